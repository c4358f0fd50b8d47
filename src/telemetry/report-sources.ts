import type Database from 'better-sqlite3';
import { hasTable } from '../store/sqlite.js';
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
import { countRows, type RowProgress } from './row-progress.js';

/**
 * The SQL side of the report on SQLite: raw rows (exact) and hourly
 * aggregates (past `retention_days`), each added into the tenants'
 * accumulators. An hour counts when it starts inside the window.
 */
export interface Window {
  since: number;
  until: number;
}

export function addRequests(
  db: Database.Database,
  window: Window,
  tenant: TenantLookup,
  progress?: RowProgress,
): void {
  if (hasTable(db, 'telemetry_requests')) {
    const rows = db
      .prepare<Window, RequestRow>(
        `SELECT tenant, user, method, name, outcome, latency_us, request_bytes, response_bytes
         FROM telemetry_requests WHERE ts >= @since AND ts < @until`,
      )
      .iterate(window);
    for (const row of countRows(rows, 'reading requests', progress)) addRequestRow(tenant, row);
  }
  if (hasTable(db, 'telemetry_requests_hourly')) {
    const rows = db
      .prepare<Window, Omit<HourlyRequestRow, 'buckets'> & { latency_buckets: string }>(
        'SELECT * FROM telemetry_requests_hourly WHERE hour >= @since AND hour < @until',
      )
      .iterate(window);
    for (const row of countRows(rows, 'reading hourly aggregates', progress)) {
      addHourlyRequestRow(tenant, {
        ...row,
        buckets: JSON.parse(row.latency_buckets) as number[],
      });
    }
  }
}

/** CPU, memory and what the child reported over IPC; minutes first, then hours. */
export function addUsage(db: Database.Database, window: Window, tenant: TenantLookup): void {
  const sources = [
    ['telemetry_usage', 'minute'],
    ['telemetry_usage_hourly', 'hour'],
  ] as const;
  for (const [table, column] of sources) {
    if (!hasTable(db, table)) continue;
    const range = `${column} >= @since AND ${column} < @until`;
    const rows = db
      .prepare<Window, UsageTotals>(
        `SELECT tenant, sum(cpu_seconds) AS cpu, sum(rss_byte_seconds) AS rss,
           sum(sampled_seconds) AS seconds, max(rss_peak) AS peak, sum(tool_calls) AS calls,
           sum(tool_errors) AS errors, sum(tool_ms) AS ms, count(db_bytes) AS reported
         FROM ${table} WHERE ${range} GROUP BY tenant`,
      )
      .all(window);
    const latest = db.prepare<Window & { tenant: string }, DatabaseFigures>(
      `SELECT db_bytes, db_rows FROM ${table} WHERE tenant = @tenant AND db_bytes IS NOT NULL
       AND ${range} ORDER BY ${column} DESC LIMIT 1`,
    );
    for (const row of rows) {
      addUsageTotals(tenant, row, (id) => latest.get({ ...window, tenant: id }));
    }
  }
}

const CHILDREN_QUERIES = [
  [
    'telemetry_children',
    `SELECT tenant, sum(event = 'start') AS starts, sum(restart) AS restarts,
       sum(event = 'exit' AND crashed = 1) AS crashes,
       sum(event = 'exit' AND limit_kind IS NOT NULL) AS limit_kills,
       sum(coalesce(start_ms, 0)) AS start_sum, max(start_ms) AS start_max
     FROM telemetry_children WHERE ts >= @since AND ts < @until GROUP BY tenant`,
  ],
  [
    'telemetry_children_hourly',
    `SELECT tenant, sum(starts) AS starts, sum(restarts) AS restarts, sum(crashes) AS crashes,
       sum(limit_kills) AS limit_kills, sum(start_ms_sum) AS start_sum, max(start_ms_max) AS start_max
     FROM telemetry_children_hourly WHERE hour >= @since AND hour < @until GROUP BY tenant`,
  ],
] as const;

/** Starts, restarts after a crash, crashes, limit kills, cold-start times. */
export function addChildren(db: Database.Database, window: Window, tenant: TenantLookup): void {
  for (const [table, sql] of CHILDREN_QUERIES) {
    if (!hasTable(db, table)) continue;
    for (const row of db.prepare<Window, ChildrenTotals>(sql).all(window)) {
      addChildrenTotals(tenant, row);
    }
  }
}
