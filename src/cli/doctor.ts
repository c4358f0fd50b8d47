import { Command } from 'commander';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { CheckResult } from '../doctor/check-result.js';
import { runChecks } from '../doctor/checks.js';
import { manifestOption } from './options.js';

interface DoctorOptions {
  manifest: string;
  json?: boolean;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'check the manifest, the secret, each tenant command, the data folder, the limit layers and the port',
    )
    .addOption(manifestOption())
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `
Each check prints ok, warn or fail, and the fix for anything not ok.
Exits 0 when nothing failed (warnings included), 1 otherwise.

The port passes when it is free, or held by the running supervisor of this
manifest (asked GET /healthz?proof=<nonce>, it proves it holds the manifest's
secret); another supervisor or any other program on it fails, as \`serve\`
would.

Example:
  $ mcp-tenants doctor -m tenants.yaml`,
    )
    .action((options: DoctorOptions) => doctor(options));
}

async function doctor(options: DoctorOptions): Promise<void> {
  const results = await runChecks(options.manifest);
  process.stdout.write(options.json ? `${JSON.stringify(results, null, 2)}\n` : render(results));
  const failed = results.filter((result) => result.status === 'fail').length;
  if (failed > 0) {
    throw new McpTenantsError(ErrorCode.INTERNAL, `${failed} check(s) failed; see the fixes above`);
  }
}

function render(results: CheckResult[]): string {
  const width = Math.max(...results.map((result) => result.check.length));
  return results
    .map((result) => {
      const line = `${result.status.padEnd(4)}  ${result.check.padEnd(width)}  ${result.detail}`;
      return result.fix ? `${line}\n${' '.repeat(width + 8)}fix: ${result.fix}\n` : `${line}\n`;
    })
    .join('');
}
