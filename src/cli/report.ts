import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { loadManifest } from '../manifest/load.js';
import { tenantDataDir } from '../process/spawn-plan.js';
import { folderSize } from '../quota/folder-size.js';
import { openForReading } from '../store/read-database.js';
import { buildReport } from '../telemetry/report.js';
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
  const db = openForReading(dataDir);
  const storage = await storageMb(
    dataDir,
    [...manifest.tenants.keys(), options.tenant ?? []].flat(),
  );
  const progress = new ProgressLine();
  try {
    // One read transaction: a consistent snapshot while serve keeps writing.
    const result = db.transaction(() =>
      buildReport(db, {
        ...window,
        tenants: [...manifest.tenants.keys()],
        only: options.tenant,
        storageMb: (tenant) => storage.get(tenant) ?? null,
        progress: progress.update,
      }),
    )();
    progress.done();
    process.stdout.write(formatReport(result, options.format));
  } finally {
    db.close();
  }
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
