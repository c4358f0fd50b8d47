import { Command } from 'commander';
import { PACKAGE_VERSION } from '../core/version.js';
import { addTenantCommand } from './add-tenant.js';
import { auditCommand } from './audit.js';
import { childCommand } from './child.js';
import { doctorCommand } from './doctor.js';
import { initCommand } from './init.js';
import { nodesCommand } from './nodes.js';
import { exitWithError } from './output.js';
import { reportCommand } from './report.js';
import { revokeCommand } from './revoke.js';
import { serveCommand } from './serve.js';
import { tenantsCommand } from './tenants.js';
import { tokenCommand } from './token.js';

export function buildProgram(): Command {
  const program = new Command('mcp-tenants')
    .description(
      'Serve many tenants from one MCP endpoint, each in its own child MCP server process.',
    )
    .version(PACKAGE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const command of [
    initCommand(),
    serveCommand(),
    addTenantCommand(),
    tokenCommand(),
    revokeCommand(),
    reportCommand(),
    auditCommand(),
    nodesCommand(),
    doctorCommand(),
    tenantsCommand(),
    childCommand(),
  ]) {
    program.addCommand(command.exitOverride());
  }
  return program;
}

/** CLI entry: parses `argv` (without node and script) and runs the command. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (error) {
    exitWithError(error);
  }
}
