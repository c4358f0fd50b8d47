import type Database from 'better-sqlite3';
import { hasTable } from '../store/sqlite.js';
import {
  childOf,
  countRequests,
  type TenantLookup,
  TIMED_OUTCOMES,
  toolOf,
} from './report-accumulator.js';
import { countRows, type RowProgress } from './row-progress.js';

/**
 * The SQL side of the report: raw rows (exact) and hourly aggregates (past
 * `retention_days`), each added into the tenants' accumulators. An hour
 * counts when it starts inside the window.
 */
export interface Window {
  since: number;
  until: number;
}

const MIB = 1024 * 1024;

interface RequestRow {
  tenant: string;
  user: string;
  method: string;
  name: string;
  outcome: string;
  latency_us: number;
  request_bytes: number;
  response_bytes: number;
}

interface HourlyRequestRow extends Omit<RequestRow, 'user' | 'latency_us'> {
  count: number;
  latency_us_max: number;
  latency_buckets: string;
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
    for (const row of countRows(rows, 'reading requests', progress)) {
      const entry = tenant(row.tenant);
      if (!entry) continue;
      entry.users.add(row.user);
      countRequests(entry, row, 1);
      if (!TIMED_OUTCOMES.has(row.outcome)) continue;
      const ms = row.latency_us / 1000;
      entry.latency.add(ms);
      if (row.method === 'tools/call') toolOf(entry, row.name).latency.add(ms);
    }
  }
  if (hasTable(db, 'telemetry_requests_hourly')) {
    const rows = db
      .prepare<Window, HourlyRequestRow>(
        'SELECT * FROM telemetry_requests_hourly WHERE hour >= @since AND hour < @until',
      )
      .iterate(window);
    for (const row of countRows(rows, 'reading hourly aggregates', progress)) {
      const entry = tenant(row.tenant);
      if (!entry) continue;
      countRequests(entry, row, row.count);
      if (!TIMED_OUTCOMES.has(row.outcome)) continue;
      const buckets = JSON.parse(row.latency_buckets) as number[];
      const max = row.latency_us_max / 1000;
      entry.latency.addBuckets(buckets, max);
      if (row.method === 'tools/call') toolOf(entry, row.name).latency.addBuckets(buckets, max);
    }
  }
}

interface UsageRow {
  tenant: string;
  cpu: number;
  rss: number;
  seconds: number;
  peak: number;
  calls: number;
  errors: number;
  ms: number;
  reported: number;
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
      .prepare<Window, UsageRow>(
        `SELECT tenant, sum(cpu_seconds) AS cpu, sum(rss_byte_seconds) AS rss,
           sum(sampled_seconds) AS seconds, max(rss_peak) AS peak, sum(tool_calls) AS calls,
           sum(tool_errors) AS errors, sum(tool_ms) AS ms, count(db_bytes) AS reported
         FROM ${table} WHERE ${range} GROUP BY tenant`,
      )
      .all(window);
    const latest = db.prepare<Window & { tenant: string }, { db_bytes: number; db_rows: number }>(
      `SELECT db_bytes, db_rows FROM ${table} WHERE tenant = @tenant AND db_bytes IS NOT NULL
       AND ${range} ORDER BY ${column} DESC LIMIT 1`,
    );
    for (const row of rows) {
      const entry = tenant(row.tenant);
      if (!entry) continue;
      entry.report.cpu_seconds += row.cpu;
      entry.rssByteSeconds += row.rss;
      entry.rssSeconds += row.seconds;
      entry.report.peak_rss_mb = Math.max(entry.report.peak_rss_mb, row.peak / MIB);
      if (row.reported === 0) continue;
      const child = childOf(entry);
      child.tool_calls += row.calls;
      child.tool_errors += row.errors;
      child.tool_ms += row.ms;
      // Minutes are read first and are the newest: keep the first database figure found.
      const database =
        child.db_mb === null ? latest.get({ ...window, tenant: row.tenant }) : undefined;
      if (database) {
        child.db_mb = database.db_bytes / MIB;
        child.rows = database.db_rows;
      }
    }
  }
}

interface ChildrenRow {
  tenant: string;
  starts: number;
  restarts: number;
  crashes: number;
  limit_kills: number;
  start_sum: number;
  start_max: number | null;
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
    for (const row of db.prepare<Window, ChildrenRow>(sql).all(window)) {
      const entry = tenant(row.tenant);
      if (!entry) continue;
      const report = entry.report;
      report.starts += row.starts;
      report.restarts += row.restarts;
      report.crashes += row.crashes;
      report.limit_kills += row.limit_kills;
      entry.startMsSum += row.start_sum;
      if (row.start_max !== null) {
        report.cold_start_ms.max = Math.max(report.cold_start_ms.max ?? 0, row.start_max);
      }
    }
  }
}
