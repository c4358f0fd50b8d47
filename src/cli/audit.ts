import { Command } from 'commander';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { loadManifest } from '../manifest/load.js';
import { openForReading } from '../store/read-database.js';
import { type AuditFormat, formatAudit, formatVerification } from '../telemetry/audit-format.js';
import { queryAudit, verifyAudit } from '../telemetry/audit-log.js';
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

function listAudit(options: AuditOptions): void {
  const manifest = loadManifest(options.manifest);
  const window = parseWindow(options, Date.now());
  const db = openForReading(manifest.server.data_dir);
  try {
    const { tenant, user, action, limit } = options;
    const rows = queryAudit(db, { ...window, tenant, user, action, limit });
    process.stdout.write(formatAudit(rows, options.format));
  } finally {
    db.close();
  }
}

function verifyTrail(options: VerifyOptions): void {
  const manifest = loadManifest(options.manifest);
  const db = openForReading(manifest.server.data_dir);
  const progress = new ProgressLine();
  let chains: ReturnType<typeof verifyAudit>;
  try {
    // One read transaction: rows and heads from the same moment while serve writes.
    chains = db.transaction(() => verifyAudit(db, options.tenant, progress.update))();
  } finally {
    db.close();
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
