import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { toMcpTenantsError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { STORE_URL_ENV } from './options.js';
import { runTenantServer, tenantServerOptionsFromEnv } from './server.js';
import { waitForStopSignal } from './stop-signal.js';

/** How long a clean shutdown may take before the process exits anyway. */
const EXIT_GRACE_MS = 2000;

/**
 * Runs the built-in tenant server until stdin ends or SIGTERM/SIGINT arrives,
 * then closes it (database last) and resolves. Configuration comes from
 * MCP_TENANT_ID, MCP_TENANT_DATA_DIR and MCP_TENANT_MAX_STORAGE_MB (and, for
 * data in PostgreSQL, MCP_TENANT_STORE_URL, MCP_TENANT_STORE_SCHEMA and
 * MCP_TENANT_LEASE_EPOCH); a bad one rejects with a USAGE error (exit code 2)
 * before anything starts.
 */
export async function main(): Promise<void> {
  const options = tenantServerOptionsFromEnv(process.env);
  // The URL holds the tenant role's password: the tenant's own tool modules,
  // and whatever they start, do not get it from the environment.
  delete process.env[STORE_URL_ENV];
  const log = createLogger().with({ tenant: options.tenantId });
  const server = await runTenantServer(options, log);
  // EOF can only be seen once the transport reads stdin, which it started just now.
  const stopped = waitForStopSignal();
  log.info('tenant server ready', {
    data_dir: options.dataDir,
    ...(options.store !== undefined && { store: server.where }),
    pid: process.pid,
  });

  const reason = await stopped;
  log.info('tenant server stopping', { reason });
  await server.close();
  // A paused stdin can still hold the event loop open; we are done reading.
  process.stdin.destroy();
  // Safety net: a stray handle (say, a tenant's own tool module) must not keep
  // a child alive after its supervisor is gone. Unref'd, so a clean exit never waits.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}

function isProcessEntry(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // Node resolves symlinks for the main module, so compare real paths.
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isProcessEntry()) {
  main().catch((error: unknown) => {
    const failure = toMcpTenantsError(error);
    process.stderr.write(`mcp-tenants child: ${failure.message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = failure.exitCode;
  });
}
