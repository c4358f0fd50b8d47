import { LatencySummary } from './latency.js';
import { ERROR_KINDS, type ErrorKind, isErrorOutcome } from './outcome.js';
import type { TenantReport } from './report-lines.js';

/** One tenant's figures while the report is being added up. */
export interface Accumulator {
  report: TenantReport;
  latency: LatencySummary;
  users: Set<string>;
  tools: Map<string, ToolAccumulator>;
  rssByteSeconds: number;
  rssSeconds: number;
  startMsSum: number;
}

export interface ToolAccumulator {
  calls: number;
  errors: number;
  latency: LatencySummary;
}

/** Finds (or starts) a tenant's accumulator; undefined for tenants the report leaves out. */
export type TenantLookup = (tenant: string) => Accumulator | undefined;

/** Outcomes whose latency says how fast the tenant's server was (refusals are instant). */
export const TIMED_OUTCOMES: ReadonlySet<string> = new Set([
  'ok',
  'tool_error',
  'rpc_error',
  'timeout',
  'crash',
]);

export function newAccumulator(tenant: string): Accumulator {
  const errors = { total: 0 } as TenantReport['errors'];
  for (const kind of ERROR_KINDS) errors[kind] = 0;
  return {
    report: {
      tenant,
      requests: 0,
      tool_calls: 0,
      errors,
      latency_ms: { p50: null, p95: null, p99: null, approximate: false },
      cpu_seconds: 0,
      memory_mb_hours: 0,
      peak_rss_mb: 0,
      avg_rss_mb: 0,
      restarts: 0,
      starts: 0,
      crashes: 0,
      limit_kills: 0,
      cold_start_ms: { avg: null, max: null },
      storage_mb: null,
      users: 0,
      cancelled: 0,
      request_bytes: 0,
      response_bytes: 0,
      top_tools: [],
      child: null,
    },
    latency: new LatencySummary(),
    users: new Set(),
    tools: new Map(),
    rssByteSeconds: 0,
    rssSeconds: 0,
    startMsSum: 0,
  };
}

export function toolOf(entry: Accumulator, name: string): ToolAccumulator {
  let tool = entry.tools.get(name);
  if (!tool) {
    tool = { calls: 0, errors: 0, latency: new LatencySummary() };
    entry.tools.set(name, tool);
  }
  return tool;
}

/** Adds `n` requests of one method, name and outcome (a raw row, or an hourly aggregate). */
export function countRequests(
  entry: Accumulator,
  row: {
    method: string;
    name: string;
    outcome: string;
    request_bytes: number;
    response_bytes: number;
  },
  n: number,
): void {
  const report = entry.report;
  report.requests += n;
  report.request_bytes += row.request_bytes;
  report.response_bytes += row.response_bytes;
  const isError = isErrorOutcome(row.outcome);
  if (isError) {
    report.errors[row.outcome as ErrorKind] += n;
    report.errors.total += n;
  }
  if (row.outcome === 'cancelled') report.cancelled += n;
  if (row.method === 'tools/call') {
    report.tool_calls += n;
    const tool = toolOf(entry, row.name);
    tool.calls += n;
    if (isError) tool.errors += n;
  }
}

/** The part of the report the child filled in over IPC, started on first use. */
export function childOf(entry: Accumulator): NonNullable<TenantReport['child']> {
  entry.report.child ??= { tool_calls: 0, tool_errors: 0, tool_ms: 0, db_mb: null, rows: null };
  return entry.report.child;
}

const MIB = 1024 * 1024;

// The folding of the report's rows into the accumulators, whichever store
// they were read from: the SQLite and PostgreSQL sources select the same
// columns and hand each row here.

/** One raw request row. */
export interface RequestRow {
  tenant: string;
  user: string;
  method: string;
  name: string;
  outcome: string;
  latency_us: number;
  request_bytes: number;
  response_bytes: number;
}

/** One hourly aggregate of requests, its latency buckets parsed. */
export interface HourlyRequestRow extends Omit<RequestRow, 'user' | 'latency_us'> {
  count: number;
  latency_us_max: number;
  buckets: readonly number[];
}

/** A tenant's usage over minutes or hours, summed. */
export interface UsageTotals {
  tenant: string;
  cpu: number;
  rss: number;
  seconds: number;
  peak: number;
  calls: number;
  errors: number;
  ms: number;
  /** How many rows carried a database size reported by the child. */
  reported: number;
}

/** The newest database figures the child reported. */
export interface DatabaseFigures {
  db_bytes: number;
  db_rows: number;
}

/** A tenant's child starts and exits, summed. */
export interface ChildrenTotals {
  tenant: string;
  starts: number;
  restarts: number;
  crashes: number;
  limit_kills: number;
  start_sum: number;
  start_max: number | null;
}

export function addRequestRow(tenant: TenantLookup, row: RequestRow): void {
  const entry = tenant(row.tenant);
  if (!entry) return;
  entry.users.add(row.user);
  countRequests(entry, row, 1);
  if (!TIMED_OUTCOMES.has(row.outcome)) return;
  const ms = row.latency_us / 1000;
  entry.latency.add(ms);
  if (row.method === 'tools/call') toolOf(entry, row.name).latency.add(ms);
}

export function addHourlyRequestRow(tenant: TenantLookup, row: HourlyRequestRow): void {
  const entry = tenant(row.tenant);
  if (!entry) return;
  countRequests(entry, row, row.count);
  if (!TIMED_OUTCOMES.has(row.outcome)) return;
  const max = row.latency_us_max / 1000;
  entry.latency.addBuckets(row.buckets, max);
  if (row.method === 'tools/call') toolOf(entry, row.name).latency.addBuckets(row.buckets, max);
}

/**
 * CPU, memory and what the child reported over IPC. Minutes are added
 * before hours and are the newest: the first database figure found stays.
 */
export function addUsageTotals(
  tenant: TenantLookup,
  row: UsageTotals,
  latest: (tenant: string) => DatabaseFigures | undefined,
): void {
  const entry = tenant(row.tenant);
  if (!entry) return;
  entry.report.cpu_seconds += row.cpu;
  entry.rssByteSeconds += row.rss;
  entry.rssSeconds += row.seconds;
  entry.report.peak_rss_mb = Math.max(entry.report.peak_rss_mb, row.peak / MIB);
  if (row.reported === 0) return;
  const child = childOf(entry);
  child.tool_calls += row.calls;
  child.tool_errors += row.errors;
  child.tool_ms += row.ms;
  const database = child.db_mb === null ? latest(row.tenant) : undefined;
  if (database) {
    child.db_mb = database.db_bytes / MIB;
    child.rows = database.db_rows;
  }
}

/** Starts, restarts after a crash, crashes, limit kills, cold-start times. */
export function addChildrenTotals(tenant: TenantLookup, row: ChildrenTotals): void {
  const entry = tenant(row.tenant);
  if (!entry) return;
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
