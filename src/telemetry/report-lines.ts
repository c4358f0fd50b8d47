import type { Percentiles } from './latency.js';
import type { ErrorKind } from './outcome.js';

// The shape of `mcp-tenants report --format json`: a stable contract that
// billing pipelines read, so names change only with a major version.

export interface ToolLine {
  name: string;
  calls: number;
  errors: number;
  p50_ms: number | null;
}

/** One tenant's line of the report. The names are a stable contract (billing pipelines). */
export interface TenantReport {
  tenant: string;
  requests: number;
  tool_calls: number;
  errors: { total: number } & Record<ErrorKind, number>;
  /** Of requests that reached the child path (refusals and cancellations excluded). */
  latency_ms: Percentiles & { approximate: boolean };
  cpu_seconds: number;
  memory_mb_hours: number;
  peak_rss_mb: number;
  avg_rss_mb: number;
  /** Child starts that followed a crash. */
  restarts: number;
  starts: number;
  crashes: number;
  limit_kills: number;
  cold_start_ms: { avg: number | null; max: number | null };
  storage_mb: number | null;
  users: number;
  cancelled: number;
  request_bytes: number;
  response_bytes: number;
  top_tools: ToolLine[];
  /** What the child reported about itself over IPC (built-in server), else null. */
  child: ChildFiguresLine | null;
}

export interface ChildFiguresLine {
  tool_calls: number;
  tool_errors: number;
  tool_ms: number;
  db_mb: number | null;
  rows: number | null;
}

export interface Report {
  since: string;
  until: string;
  tenants: TenantReport[];
}
