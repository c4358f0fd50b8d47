import type { Migration } from '../store/migrations.js';

/**
 * Telemetry, usage and the audit trail's tables in PostgreSQL: the SQLite
 * tables of schema.ts with the same names and columns, so every node of a
 * cluster writes the same rows and `report` reads them all. Times are epoch
 * milliseconds (BIGINT) as the records carry them; `detail` stays TEXT, the
 * exact JSON text the audit hash covers. Latency buckets are a BIGINT array
 * (SQLite keeps JSON text), so the rollup can add them up in SQL.
 */
export const TELEMETRY_MIGRATIONS: readonly Migration[] = [
  {
    component: 'telemetry',
    version: 1,
    name: 'requests, usage, children, hourly rollups, audit trail',
    sql: `
CREATE TABLE telemetry_requests (
  id             BIGSERIAL PRIMARY KEY,
  ts             BIGINT NOT NULL,
  tenant         TEXT NOT NULL,
  "user"         TEXT NOT NULL,
  method         TEXT NOT NULL,
  name           TEXT NOT NULL DEFAULT '',
  outcome        TEXT NOT NULL,
  error_code     INTEGER,
  latency_us     BIGINT NOT NULL,
  request_bytes  BIGINT NOT NULL,
  response_bytes BIGINT NOT NULL,
  trace_id       TEXT
);
CREATE INDEX telemetry_requests_ts ON telemetry_requests (ts);
CREATE TABLE telemetry_usage (
  tenant           TEXT NOT NULL,
  minute           BIGINT NOT NULL,
  pid              INTEGER NOT NULL,
  cpu_seconds      DOUBLE PRECISION NOT NULL DEFAULT 0,
  rss_byte_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
  sampled_seconds  DOUBLE PRECISION NOT NULL DEFAULT 0,
  rss_peak         BIGINT NOT NULL DEFAULT 0,
  samples          BIGINT NOT NULL DEFAULT 0,
  tool_calls       BIGINT NOT NULL DEFAULT 0,
  tool_errors      BIGINT NOT NULL DEFAULT 0,
  tool_ms          DOUBLE PRECISION NOT NULL DEFAULT 0,
  db_bytes         BIGINT,
  db_rows          BIGINT,
  PRIMARY KEY (tenant, minute, pid)
);
CREATE INDEX telemetry_usage_minute ON telemetry_usage (minute);
CREATE TABLE telemetry_children (
  id         BIGSERIAL PRIMARY KEY,
  ts         BIGINT NOT NULL,
  tenant     TEXT NOT NULL,
  pid        INTEGER NOT NULL,
  event      TEXT NOT NULL,
  start_ms   DOUBLE PRECISION,
  restart    BOOLEAN NOT NULL DEFAULT false,
  crashed    BOOLEAN NOT NULL DEFAULT false,
  limit_kind TEXT,
  reason     TEXT
);
CREATE INDEX telemetry_children_ts ON telemetry_children (ts);
CREATE TABLE telemetry_requests_hourly (
  tenant          TEXT NOT NULL,
  hour            BIGINT NOT NULL,
  method          TEXT NOT NULL,
  name            TEXT NOT NULL,
  outcome         TEXT NOT NULL,
  count           BIGINT NOT NULL,
  latency_us_sum  BIGINT NOT NULL,
  latency_us_max  BIGINT NOT NULL,
  latency_buckets BIGINT[] NOT NULL,
  request_bytes   BIGINT NOT NULL,
  response_bytes  BIGINT NOT NULL,
  PRIMARY KEY (tenant, hour, method, name, outcome)
);
CREATE INDEX telemetry_requests_hourly_hour ON telemetry_requests_hourly (hour);
CREATE TABLE telemetry_usage_hourly (
  tenant           TEXT NOT NULL,
  hour             BIGINT NOT NULL,
  cpu_seconds      DOUBLE PRECISION NOT NULL,
  rss_byte_seconds DOUBLE PRECISION NOT NULL,
  sampled_seconds  DOUBLE PRECISION NOT NULL,
  rss_peak         BIGINT NOT NULL,
  samples          BIGINT NOT NULL,
  tool_calls       BIGINT NOT NULL,
  tool_errors      BIGINT NOT NULL,
  tool_ms          DOUBLE PRECISION NOT NULL,
  db_bytes         BIGINT,
  db_rows          BIGINT,
  PRIMARY KEY (tenant, hour)
);
CREATE INDEX telemetry_usage_hourly_hour ON telemetry_usage_hourly (hour);
CREATE TABLE telemetry_children_hourly (
  tenant       TEXT NOT NULL,
  hour         BIGINT NOT NULL,
  starts       BIGINT NOT NULL,
  restarts     BIGINT NOT NULL,
  crashes      BIGINT NOT NULL,
  limit_kills  BIGINT NOT NULL,
  start_ms_sum DOUBLE PRECISION NOT NULL,
  start_ms_max DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (tenant, hour)
);
CREATE INDEX telemetry_children_hourly_hour ON telemetry_children_hourly (hour);
CREATE TABLE audit_log (
  id        BIGSERIAL PRIMARY KEY,
  tenant    TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  ts        BIGINT NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT,
  outcome   TEXT NOT NULL,
  detail    TEXT,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL,
  UNIQUE (tenant, seq)
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE TABLE audit_heads (
  tenant TEXT PRIMARY KEY,
  seq    BIGINT NOT NULL,
  hash   TEXT NOT NULL
);`,
  },
];
