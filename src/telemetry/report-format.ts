import { ERROR_KINDS } from './outcome.js';
import type { Report, TenantReport } from './report-lines.js';
import { csvLine, textTable, truncate } from './text-table.js';

export type ReportFormat = 'table' | 'json' | 'csv';

export function formatReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'csv') return reportCsv(report);
  return reportTable(report);
}

/** Tenant ids are cut to this width in the table (the JSON has them whole). */
const TENANT_WIDTH = 16;

/** Four small tables that each fit in 80 columns: traffic, errors, resources, top tools. */
export function reportTable(report: Report): string {
  const tenants = report.tenants;
  const name = (tenant: TenantReport) => truncate(tenant.tenant, TENANT_WIDTH);
  const out: string[] = [`Report ${when(report.since)} to ${when(report.until)} (UTC)\n\n`];
  if (tenants.length === 0) return `${out.join('')}No tenants.\n`;
  out.push(
    textTable(
      ['TRAFFIC', 'requests', 'tool calls', 'errors', 'users', 'p50', 'p95', 'p99'],
      tenants.map((t) => [
        name(t),
        int(t.requests),
        int(t.tool_calls),
        int(t.errors.total),
        int(t.users),
        ms(t.latency_ms.p50),
        ms(t.latency_ms.p95),
        ms(t.latency_ms.p99),
      ]),
    ),
  );
  out.push('\n');
  out.push(
    textTable(
      ['ERRORS', 'tool', 'rpc', 'quota', 'permission', 'timeout', 'crash', 'cancelled'],
      tenants.map((t) => [
        name(t),
        ...ERROR_KINDS.map((kind) => int(t.errors[kind])),
        int(t.cancelled),
      ]),
    ),
  );
  out.push('\n');
  out.push(
    textTable(
      ['RESOURCES', 'CPU', 'memory', 'peak RSS', 'restarts', 'starts', 'storage'],
      tenants.map((t) => [
        name(t),
        `${amount(t.cpu_seconds, 2)} s`,
        `${amount(t.memory_mb_hours, 3)} MB·h`,
        `${amount(t.peak_rss_mb, 1)} MB`,
        int(t.restarts),
        int(t.starts),
        t.storage_mb === null ? '-' : `${amount(t.storage_mb, 2)} MB`,
      ]),
    ),
  );
  const toolRows = tenants.flatMap((t) =>
    t.top_tools.map((tool, i) => [
      i === 0 ? name(t) : '',
      truncate(tool.name, 30),
      int(tool.calls),
      int(tool.errors),
      ms(tool.p50_ms),
    ]),
  );
  if (toolRows.length > 0) {
    out.push('\n');
    out.push(textTable(['TOP TOOLS', 'tool', 'calls', 'errors', 'p50'], toolRows, 2));
  }
  if (tenants.some((t) => t.latency_ms.approximate)) {
    out.push(
      '\nLatencies include hourly aggregates (past retention_days): estimated from buckets.\n',
    );
  }
  return out.join('');
}

const CSV_HEADER = [
  'tenant',
  'requests',
  'tool_calls',
  'errors_total',
  ...ERROR_KINDS.map((kind) => `errors_${kind}`),
  'cancelled',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
  'cpu_seconds',
  'memory_mb_hours',
  'peak_rss_mb',
  'restarts',
  'storage_mb',
  'users',
  'request_bytes',
  'response_bytes',
  'top_tools',
];

/** One line per tenant, with `since` and `until` in every line for easy loading. */
export function reportCsv(report: Report): string {
  const lines = [csvLine(['since', 'until', ...CSV_HEADER])];
  for (const t of report.tenants) {
    lines.push(
      csvLine([
        report.since,
        report.until,
        t.tenant,
        t.requests,
        t.tool_calls,
        t.errors.total,
        ...ERROR_KINDS.map((kind) => t.errors[kind]),
        t.cancelled,
        t.latency_ms.p50,
        t.latency_ms.p95,
        t.latency_ms.p99,
        t.cpu_seconds,
        t.memory_mb_hours,
        t.peak_rss_mb,
        t.restarts,
        t.storage_mb,
        t.users,
        t.request_bytes,
        t.response_bytes,
        t.top_tools.map((tool) => `${tool.name}:${tool.calls}`).join(';'),
      ]),
    );
  }
  return lines.join('');
}

function when(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

/** `digits` decimals for small amounts, fewer as they grow, so columns stay narrow. */
function amount(value: number, digits: number): string {
  if (value >= 1_000) return int(Math.round(value));
  if (value >= 100) return value.toFixed(Math.min(digits, 1));
  return value.toFixed(digits);
}

function int(value: number): string {
  return value.toLocaleString('en-US');
}

function ms(value: number | null): string {
  if (value === null) return '-';
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ms`;
}
