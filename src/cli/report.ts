import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { closeStore, openStore } from '../app/store.js';
import { createLogger } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import { tenantDataDir } from '../process/spawn-plan.js';
import { folderSize } from '../quota/folder-size.js';
import type { PostgresStore } from '../store/postgres.js';
import { TenantDataRoles } from '../store/tenant-data.js';
import { buildReportFrom } from '../telemetry/report.js';
import { formatReport, type ReportFormat } from '../telemetry/report-format.js';
import { parseWindow } from '../telemetry/time-window.js';
import { formatOption, manifestOption, timeWindowOptions } from './options.js';
import { ProgressLine } from './progress-line.js';

interface ReportOptions {
  manifest: string;
  tenant?: string;
  since?: string;
  until?: string;
  format: ReportFormat;
}

export function reportCommand(): Command {
  return timeWindowOptions(
    new Command('report')
      .description(
        'per-tenant usage, errors, latency and resource cost from the telemetry database (works while serve runs and after)',
      )
      .addOption(manifestOption())
      .option('--tenant <id>', 'only this tenant'),
  )
    .addOption(formatOption())
    .addHelpText(
      'after',
      `
The JSON form is stable (for billing pipelines): {since, until, tenants: [{tenant,
requests, tool_calls, errors: {total, tool_error, rpc_error, quota, permission,
timeout, crash}, latency_ms: {p50, p95, p99}, cpu_seconds, memory_mb_hours,
peak_rss_mb, restarts, storage_mb, top_tools}]}. Times are UTC.

Examples:
  $ mcp-tenants report -m tenants.yaml
  $ mcp-tenants report -m tenants.yaml --tenant acme --since 7d --format json
  $ mcp-tenants report --since 2025-06-01 --until 2025-07-01 --format csv`,
    )
    .action(async (options: ReportOptions) => report(options));
}

async function report(options: ReportOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const dataDir = manifest.server.data_dir;
  const window = parseWindow(options, Date.now());
  if (options.tenant !== undefined && !manifest.tenants.has(options.tenant)) {
    process.stderr.write(
      `note: tenant "${options.tenant}" is not in the manifest (any telemetry it left is shown)\n`,
    );
  }
  // Warnings only: stdout holds the report, and a first run's migration is no news.
  const store = await openStore(manifest, {
    log: createLogger({ level: 'warn' }),
    purpose: 'report',
    readonly: true,
  });
  try {
    // On PostgreSQL the tenants' data is not in local folders; its sizes come from the store.
    const storage =
      store.kind === 'sqlite'
        ? await storageMb(dataDir, [...manifest.tenants.keys(), options.tenant ?? []].flat())
        : await storeStorageMb(store.pg);
    const progress = new ProgressLine();
    const result = await buildReportFrom(store, {
      ...window,
      tenants: [...manifest.tenants.keys()],
      only: options.tenant,
      storageMb: (tenant) => storage.get(tenant) ?? null,
      progress: progress.update,
    });
    progress.done();
    process.stdout.write(formatReport(result, options.format));
  } finally {
    await closeStore(store);
  }
}

/** Each built-in tenant's data in the PostgreSQL store, in MiB (what its storage quota counts). */
async function storeStorageMb(pg: PostgresStore): Promise<Map<string, number>> {
  const bytes = await new TenantDataRoles(pg).dataBytes();
  return new Map([...bytes].map(([tenant, size]) => [tenant, size / 1024 / 1024]));
}

/** Each tenant's data folder in MiB, measured as the storage quota does; absent folders left out. */
async function storageMb(
  dataDir: string,
  tenants: readonly string[],
): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const tenant of new Set(tenants)) {
    const dir = tenantDataDir(dataDir, tenant);
    if (existsSync(dir)) sizes.set(tenant, (await folderSize(dir)) / 1024 / 1024);
  }
  return sizes;
}
