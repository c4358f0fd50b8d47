import type pg from 'pg';
import { pgCursor, pgRows } from './pg-rows.js';
import {
  addChildrenTotals,
  addHourlyRequestRow,
  addRequestRow,
  addUsageTotals,
  type ChildrenTotals,
  type DatabaseFigures,
  type HourlyRequestRow,
  type RequestRow,
  type TenantLookup,
  type UsageTotals,
} from './report-accumulator.js';
import type { Window } from './report-sources.js';
import { countRowsAsync, type RowProgress } from './row-progress.js';

/**
 * The SQL side of the report on PostgreSQL: the rows every node wrote,
 * selected as report-sources.ts does on SQLite and folded by the same
 * functions. Call inside one snapshot (`pgSnapshot`). With `only`, the
 * other tenants' rows stay in the database (many tenants share it).
 */
export interface PgScope extends Window {
  only?: string | undefined;
}

/** The values of every query here: $1 since, $2 until, $3 the one tenant or null. */
const valuesOf = (scope: PgScope): unknown[] => [scope.since, scope.until, scope.only ?? null];
const ONE_TENANT = '($3::text IS NULL OR tenant = $3)';
export async function addRequestsPg(
  client: pg.PoolClient,
  scope: PgScope,
  tenant: TenantLookup,
  progress?: RowProgress,
): Promise<void> {
  const rows = pgCursor<RequestRow>(
    client,
    `SELECT tenant, "user", method, name, outcome, latency_us, request_bytes, response_bytes
     FROM telemetry_requests WHERE ts >= $1 AND ts < $2 AND ${ONE_TENANT}`,
    valuesOf(scope),
  );
  for await (const row of countRowsAsync(rows, 'reading requests', progress)) {
    addRequestRow(tenant, row);
  }
  const hourly = pgCursor<HourlyRequestRow>(
    client,
    `SELECT tenant, method, name, outcome, count, latency_us_max, latency_buckets::float8[] AS buckets,
       request_bytes, response_bytes
     FROM telemetry_requests_hourly WHERE hour >= $1 AND hour < $2 AND ${ONE_TENANT}`,
    valuesOf(scope),
  );
  for await (const row of countRowsAsync(hourly, 'reading hourly aggregates', progress)) {
    addHourlyRequestRow(tenant, row);
  }
}

/** CPU, memory and what the child reported over IPC; minutes first, then hours. */
export async function addUsagePg(
  client: pg.PoolClient,
  scope: PgScope,
  tenant: TenantLookup,
): Promise<void> {
  const sources = [
    ['telemetry_usage', 'minute'],
    ['telemetry_usage_hourly', 'hour'],
  ] as const;
  for (const [table, column] of sources) {
    const range = `${column} >= $1 AND ${column} < $2 AND ${ONE_TENANT}`;
    const values = valuesOf(scope);
    const rows = await pgRows<UsageTotals>(
      client,
      `SELECT tenant, sum(cpu_seconds) AS cpu, sum(rss_byte_seconds) AS rss,
         sum(sampled_seconds) AS seconds, max(rss_peak) AS peak, sum(tool_calls) AS calls,
         sum(tool_errors) AS errors, sum(tool_ms) AS ms, count(db_bytes) AS reported
       FROM ${table} WHERE ${range} GROUP BY tenant`,
      values,
    );
    if (rows.length === 0) continue;
    const latest = new Map(
      (
        await pgRows<DatabaseFigures & { tenant: string }>(
          client,
          `SELECT DISTINCT ON (tenant) tenant, db_bytes, db_rows FROM ${table}
           WHERE db_bytes IS NOT NULL AND ${range} ORDER BY tenant, ${column} DESC`,
          values,
        )
      ).map(({ tenant: id, ...figures }) => [id, figures]),
    );
    for (const row of rows) addUsageTotals(tenant, row, (id) => latest.get(id));
  }
}

const CHILDREN_QUERIES = [
  `SELECT tenant, count(*) FILTER (WHERE event = 'start') AS starts,
     count(*) FILTER (WHERE restart) AS restarts,
     count(*) FILTER (WHERE event = 'exit' AND crashed) AS crashes,
     count(*) FILTER (WHERE event = 'exit' AND limit_kind IS NOT NULL) AS limit_kills,
     coalesce(sum(start_ms), 0) AS start_sum, max(start_ms) AS start_max
   FROM telemetry_children WHERE ts >= $1 AND ts < $2 AND ${ONE_TENANT} GROUP BY tenant`,
  `SELECT tenant, sum(starts) AS starts, sum(restarts) AS restarts, sum(crashes) AS crashes,
     sum(limit_kills) AS limit_kills, sum(start_ms_sum) AS start_sum, max(start_ms_max) AS start_max
   FROM telemetry_children_hourly WHERE hour >= $1 AND hour < $2 AND ${ONE_TENANT} GROUP BY tenant`,
];

/** Starts, restarts after a crash, crashes, limit kills, cold-start times. */
export async function addChildrenPg(
  client: pg.PoolClient,
  scope: PgScope,
  tenant: TenantLookup,
): Promise<void> {
  for (const sql of CHILDREN_QUERIES) {
    for (const row of await pgRows<ChildrenTotals>(client, sql, valuesOf(scope))) {
      addChildrenTotals(tenant, row);
    }
  }
}
