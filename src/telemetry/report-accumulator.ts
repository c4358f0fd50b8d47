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
