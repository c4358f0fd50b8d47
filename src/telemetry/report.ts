import type Database from 'better-sqlite3';
import type { StoreBackend } from '../store/backend.js';
import type { PostgresStore } from '../store/postgres.js';
import { addChildrenPg, addRequestsPg, addUsagePg } from './pg-report-sources.js';
import { pgSnapshot } from './pg-rows.js';
import { type Accumulator, newAccumulator, type TenantLookup } from './report-accumulator.js';
import type { Report, TenantReport } from './report-lines.js';
import { addChildren, addRequests, addUsage } from './report-sources.js';
import type { RowProgress } from './row-progress.js';

const MIB = 1024 * 1024;

export interface ReportOptions {
  since: number;
  until: number;
  /** Tenants to show even without traffic (the manifest's). */
  tenants: readonly string[];
  /** Only this tenant. */
  only?: string | undefined;
  /** Storage in MiB (the tenant's data folder, or its share of the PostgreSQL store), null when unknown. */
  storageMb?: (tenant: string) => number | null;
  topTools?: number;
  /** Told how far the read of request rows has gone (the long part on a large database). */
  progress?: RowProgress;
}

/**
 * Per-tenant usage, errors, latency and resource cost over `[since, until)`,
 * from raw rows and, past `retention_days`, hourly aggregates. Run it in a
 * read transaction for a consistent snapshot while `serve` writes.
 */
export function buildReport(db: Database.Database, options: ReportOptions): Report {
  const { all, tenant } = startReport(options);
  const window = { since: options.since, until: options.until };
  addRequests(db, window, tenant, options.progress);
  addUsage(db, window, tenant);
  addChildren(db, window, tenant);
  return finishReport(all, options);
}

/**
 * `buildReport` from the PostgreSQL store: what every node wrote, read in
 * one read-only snapshot while they keep writing.
 */
export async function buildReportFromPostgres(
  store: PostgresStore,
  options: ReportOptions,
): Promise<Report> {
  const { all, tenant } = startReport(options);
  const scope = { since: options.since, until: options.until, only: options.only };
  await pgSnapshot(store, async (client) => {
    await addRequestsPg(client, scope, tenant, options.progress);
    await addUsagePg(client, scope, tenant);
    await addChildrenPg(client, scope, tenant);
  });
  return finishReport(all, options);
}

/** The report of whichever store the manifest names. */
export function buildReportFrom(store: StoreBackend, options: ReportOptions): Promise<Report> {
  if (store.kind === 'postgres') return buildReportFromPostgres(store.pg, options);
  const db = store.db;
  // One read transaction: a consistent snapshot while serve keeps writing.
  return Promise.resolve(db.transaction(() => buildReport(db, options))());
}

/** The accumulators: the manifest's tenants first, and any other the rows name. */
function startReport(options: ReportOptions): {
  all: Map<string, Accumulator>;
  tenant: TenantLookup;
} {
  const all = new Map<string, Accumulator>();
  const tenant = (id: string): Accumulator | undefined => {
    if (options.only !== undefined && id !== options.only) return undefined;
    let entry = all.get(id);
    if (!entry) {
      entry = newAccumulator(id);
      all.set(id, entry);
    }
    return entry;
  };
  for (const id of options.tenants) tenant(id);
  if (options.only !== undefined) tenant(options.only);
  return { all, tenant };
}

function finishReport(all: Map<string, Accumulator>, options: ReportOptions): Report {
  return {
    since: new Date(options.since).toISOString(),
    until: new Date(options.until).toISOString(),
    tenants: [...all.values()]
      .map((entry) => finish(entry, options))
      .sort((a, b) => a.tenant.localeCompare(b.tenant)),
  };
}

/** Percentiles, averages, units and rounding. */
function finish(entry: Accumulator, options: ReportOptions): TenantReport {
  const { report, rssByteSeconds, rssSeconds, startMsSum } = entry;
  const percentiles = entry.latency.percentiles();
  const topTools = [...entry.tools]
    .sort(([a, x], [b, y]) => y.calls - x.calls || a.localeCompare(b))
    .slice(0, options.topTools ?? 5)
    .map(([name, tool]) => ({
      name,
      calls: tool.calls,
      errors: tool.errors,
      p50_ms: round(tool.latency.percentiles().p50, 2),
    }));
  return {
    ...report,
    latency_ms: {
      p50: round(percentiles.p50, 2),
      p95: round(percentiles.p95, 2),
      p99: round(percentiles.p99, 2),
      approximate: entry.latency.approximate,
    },
    cpu_seconds: round(report.cpu_seconds, 3) ?? 0,
    memory_mb_hours: round(rssByteSeconds / MIB / 3600, 4) ?? 0,
    peak_rss_mb: round(report.peak_rss_mb, 1) ?? 0,
    avg_rss_mb: round(rssSeconds > 0 ? rssByteSeconds / rssSeconds / MIB : 0, 1) ?? 0,
    cold_start_ms: {
      avg: report.starts > 0 ? round(startMsSum / report.starts, 1) : null,
      max: round(report.cold_start_ms.max, 1),
    },
    storage_mb: options.storageMb ? round(options.storageMb(report.tenant), 3) : null,
    users: entry.users.size,
    top_tools: topTools,
    child: report.child && {
      ...report.child,
      tool_ms: round(report.child.tool_ms, 1) ?? 0,
      db_mb: round(report.child.db_mb, 3),
    },
  };
}

function round(value: number | null, digits: number): number | null {
  if (value === null) return null;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
