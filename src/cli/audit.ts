import { Command } from 'commander';
import { closeStore, openStore } from '../app/store.js';
import type { Manifest } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import type { StoreBackend } from '../store/backend.js';
import { type AuditFormat, formatAudit, formatVerification } from '../telemetry/audit-format.js';
import { type ChainReport, queryAudit, verifyAudit } from '../telemetry/audit-log.js';
import { queryAuditPg, verifyAuditPg } from '../telemetry/pg-audit-log.js';
import { parseWindow } from '../telemetry/time-window.js';
import { formatOption, manifestOption, parsePositiveInt, timeWindowOptions } from './options.js';
import { ProgressLine } from './progress-line.js';

interface AuditOptions {
  manifest: string;
  tenant?: string;
  user?: string;
  action?: string;
  since?: string;
  until?: string;
  limit: number;
  format: AuditFormat;
}

interface VerifyOptions {
  manifest: string;
  tenant?: string;
  json?: boolean;
}

export function auditCommand(): Command {
  const command = timeWindowOptions(
    new Command('audit')
      .description(
        'the audit trail: who did what, when, with what outcome (tool calls, reads, prompts, admin actions, token refusals, tenant changes)',
      )
      .addOption(manifestOption())
      .option('--tenant <id>', "only this tenant's chain (- for the supervisor's own)")
      .option('--user <id>', 'only this user (or operator, manifest, anonymous)')
      .option('--action <action>', 'only this action, e.g. tools/call, token_refused, admin/reset'),
  )
    .option('--limit <n>', 'at most this many rows (the newest)', parsePositiveInt, 1000)
    .addOption(formatOption())
    .addHelpText(
      'after',
      `
Each row carries a hash chained to the previous row of the same tenant;
\`mcp-tenants audit verify\` recomputes every chain and exits 8 when a row
was modified or deleted.

Examples:
  $ mcp-tenants audit -m tenants.yaml --tenant acme --since 7d
  $ mcp-tenants audit --action token_refused --format json
  $ mcp-tenants audit verify -m tenants.yaml`,
    )
    .action((options: AuditOptions) => listAudit(options));
  command
    .command('verify')
    .description('recompute the hash chains; exit 8 when a row was modified or deleted')
    .option('--json', 'print JSON')
    .action((_options: unknown, verify: Command) =>
      // -m and --tenant belong to `audit`, wherever they are written.
      verifyTrail(verify.optsWithGlobals<VerifyOptions>()),
    );
  return command;
}

/** The manifest's store, read-only where it can be (SQLite), for `body`; closed after. */
async function withStore<T>(
  manifest: Manifest,
  body: (store: StoreBackend) => Promise<T>,
): Promise<T> {
  // Warnings only: stdout holds the result, and a first run's migration is no news.
  const store = await openStore(manifest, {
    log: createLogger({ level: 'warn' }),
    purpose: 'audit',
    readonly: true,
  });
  try {
    return await body(store);
  } finally {
    await closeStore(store);
  }
}

async function listAudit(options: AuditOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const window = parseWindow(options, Date.now());
  const { tenant, user, action, limit } = options;
  const filter = { ...window, tenant, user, action, limit };
  const rows = await withStore(manifest, async (store) =>
    store.kind === 'sqlite' ? queryAudit(store.db, filter) : queryAuditPg(store.pg, filter),
  );
  process.stdout.write(formatAudit(rows, options.format));
}

async function verifyTrail(options: VerifyOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const progress = new ProgressLine();
  let chains: ChainReport[];
  try {
    chains = await withStore(manifest, async (store) => {
      if (store.kind === 'postgres')
        return verifyAuditPg(store.pg, options.tenant, progress.update);
      const db = store.db;
      // One read transaction: rows and heads from the same moment while serve writes.
      return db.transaction(() => verifyAudit(db, options.tenant, progress.update))();
    });
  } finally {
    progress.done();
  }
  process.stdout.write(
    options.json ? `${JSON.stringify({ chains }, null, 2)}\n` : formatVerification(chains),
  );
  const failed = chains.filter((chain) => !chain.ok).map((chain) => chain.tenant);
  if (failed.length > 0) {
    throw new McpTenantsError(
      ErrorCode.AUDIT_TAMPERED,
      `the audit trail of ${failed.join(', ')} fails verification: rows were modified or deleted (details above)`,
    );
  }
}
