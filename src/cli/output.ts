import { CommanderError } from 'commander';
import { isMcpTenantsError } from '../core/errors.js';

/**
 * The one place a CLI failure becomes output: a one-line reason on stderr
 * and the exit code of the error's kind. Nothing else in the CLI exits.
 */
export function exitWithError(error: unknown): never {
  if (error instanceof CommanderError) {
    // Commander already printed its message (or the help text).
    process.exit(error.exitCode);
  }
  if (isMcpTenantsError(error)) {
    process.stderr.write(`mcp-tenants: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`mcp-tenants: unexpected error: ${message}\n`);
  if (process.env.MCP_TENANTS_DEBUG && error instanceof Error) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(1);
}
