import type Database from 'better-sqlite3';

/**
 * Tables of telemetry and the audit trail in the supervisor's database.
 * Raw rows (`telemetry_requests`, `telemetry_usage`, `telemetry_children`)
 * are kept for `retention_days`, then rolled up into the `_hourly` tables.
 * Times are epoch milliseconds; empty names are '' so they can be keys.
 */
/**
 * How a usage row absorbs another for the same key (minute or hour): sums,
 * the peak's maximum, and the latest known database size. Shared by the
 * writer (per minute) and the roll-up (per hour) so both add up alike.
 */
export const ADD_USAGE_ON_CONFLICT = `
         cpu_seconds = cpu_seconds + excluded.cpu_seconds,
         rss_byte_seconds = rss_byte_seconds + excluded.rss_byte_seconds,
         sampled_seconds = sampled_seconds + excluded.sampled_seconds,
         rss_peak = max(rss_peak, excluded.rss_peak),
         samples = samples + excluded.samples,
         tool_calls = tool_calls + excluded.tool_calls,
         tool_errors = tool_errors + excluded.tool_errors,
         tool_ms = tool_ms + excluded.tool_ms,
         db_bytes = coalesce(excluded.db_bytes, db_bytes),
         db_rows = coalesce(excluded.db_rows, db_rows)`;

const STATEMENTS = [
  `CREATE TABLE IF NOT EXISTS telemetry_requests (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    user TEXT NOT NULL,
    method TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    error_code INTEGER,
    latency_us INTEGER NOT NULL,
    request_bytes INTEGER NOT NULL,
    response_bytes INTEGER NOT NULL,
    trace_id TEXT
  )`,
  'CREATE INDEX IF NOT EXISTS telemetry_requests_ts ON telemetry_requests (ts)',
  `CREATE TABLE IF NOT EXISTS telemetry_usage (
    tenant TEXT NOT NULL,
    minute INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    cpu_seconds REAL NOT NULL DEFAULT 0,
    rss_byte_seconds REAL NOT NULL DEFAULT 0,
    sampled_seconds REAL NOT NULL DEFAULT 0,
    rss_peak INTEGER NOT NULL DEFAULT 0,
    samples INTEGER NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    tool_errors INTEGER NOT NULL DEFAULT 0,
    tool_ms REAL NOT NULL DEFAULT 0,
    db_bytes INTEGER,
    db_rows INTEGER,
    PRIMARY KEY (tenant, minute, pid)
  )`,
  'CREATE INDEX IF NOT EXISTS telemetry_usage_minute ON telemetry_usage (minute)',
  `CREATE TABLE IF NOT EXISTS telemetry_children (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    pid INTEGER NOT NULL,
    event TEXT NOT NULL,
    start_ms REAL,
    restart INTEGER NOT NULL DEFAULT 0,
    crashed INTEGER NOT NULL DEFAULT 0,
    limit_kind TEXT,
    reason TEXT
  )`,
  'CREATE INDEX IF NOT EXISTS telemetry_children_ts ON telemetry_children (ts)',
  `CREATE TABLE IF NOT EXISTS telemetry_requests_hourly (
    tenant TEXT NOT NULL,
    hour INTEGER NOT NULL,
    method TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL,
    latency_us_sum INTEGER NOT NULL,
    latency_us_max INTEGER NOT NULL,
    latency_buckets TEXT NOT NULL,
    request_bytes INTEGER NOT NULL,
    response_bytes INTEGER NOT NULL,
    PRIMARY KEY (tenant, hour, method, name, outcome)
  )`,
  'CREATE INDEX IF NOT EXISTS telemetry_requests_hourly_hour ON telemetry_requests_hourly (hour)',
  `CREATE TABLE IF NOT EXISTS telemetry_usage_hourly (
    tenant TEXT NOT NULL,
    hour INTEGER NOT NULL,
    cpu_seconds REAL NOT NULL,
    rss_byte_seconds REAL NOT NULL,
    sampled_seconds REAL NOT NULL,
    rss_peak INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL,
    tool_errors INTEGER NOT NULL,
    tool_ms REAL NOT NULL,
    db_bytes INTEGER,
    db_rows INTEGER,
    PRIMARY KEY (tenant, hour)
  )`,
  `CREATE TABLE IF NOT EXISTS telemetry_children_hourly (
    tenant TEXT NOT NULL,
    hour INTEGER NOT NULL,
    starts INTEGER NOT NULL,
    restarts INTEGER NOT NULL,
    crashes INTEGER NOT NULL,
    limit_kills INTEGER NOT NULL,
    start_ms_sum REAL NOT NULL,
    start_ms_max REAL NOT NULL,
    PRIMARY KEY (tenant, hour)
  )`,
  `CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (tenant, seq)
  )`,
  'CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts)',
  `CREATE TABLE IF NOT EXISTS audit_heads (
    tenant TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  ) WITHOUT ROWID`,
];

export function ensureTelemetrySchema(db: Database.Database): void {
  db.transaction(() => {
    for (const statement of STATEMENTS) db.exec(statement);
  })();
}
