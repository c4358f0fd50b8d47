import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLogger, type Logger } from '../core/logger.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { reportFigures } from './figures-reporter.js';
import { trackInFlight } from './in-flight.js';
import { openTenantStore } from './open-store.js';
import type { TenantServerOptions } from './options.js';
import { registerDataPrompts } from './prompts.js';
import { registerDataResources } from './resources.js';
import type { TenantStore } from './store.js';
import { loadToolModules } from './tool-modules.js';
import { DATA_TOOL_NAMES, registerDataTools } from './tools.js';

export { type TenantServerOptions, tenantServerOptionsFromEnv } from './options.js';

export const TENANT_SERVER_NAME = 'mcp-tenants-child';
export const TENANT_SERVER_VERSION = PACKAGE_VERSION;

/** How long a stop waits for requests still being answered (the entry exits 2 s after a stop anyway). */
const ANSWER_GRACE_MS = 1_500;

export interface TenantServerHandle {
  /** Where the tenant's data lives, for the log (a file, or host:port/database). */
  readonly where: string;
  /** Lets requests in progress finish, stops serving, then closes the database. Idempotent. */
  close(): Promise<void>;
}

/** The MCP server of one tenant over its store, not yet connected to a transport. */
export function createTenantMcpServer(store: TenantStore, log: Logger): McpServer {
  const server = new McpServer(
    { name: TENANT_SERVER_NAME, version: TENANT_SERVER_VERSION },
    {
      instructions:
        `Key-value text storage for tenant ${store.tenantId}. Use data_set, data_get, ` +
        `data_delete and data_list; each key is also the resource tenant://${store.tenantId}/data/<key>.`,
    },
  );
  registerDataTools(server, store, log);
  registerDataResources(server, store);
  registerDataPrompts(server, store);
  return server;
}

/**
 * Serves one tenant over this process's stdin/stdout. Reacting to stdin EOF
 * and signals is the entry's job (main.ts), so this can run in any process.
 */
export async function runTenantServer(
  options: TenantServerOptions,
  log: Logger = createLogger().with({ tenant: options.tenantId }),
): Promise<TenantServerHandle> {
  const store = await openTenantStore(options, log);
  const server = createTenantMcpServer(store, log);
  // Before connecting, so the first tools/list already holds them.
  await loadToolModules(server, options.toolsModules ?? [], {
    tenantId: options.tenantId,
    dataDir: options.dataDir,
    log,
    taken: new Set(DATA_TOOL_NAMES),
  });
  server.server.onerror = (error) => log.warn('protocol error', { error: error.message });
  const transport = new StdioServerTransport();
  try {
    await server.connect(transport);
  } catch (error) {
    await store.close();
    throw error;
  }
  const inFlight = trackInFlight(transport);
  const figures = reportFigures(store, transport);
  let closing: Promise<void> | undefined;
  return {
    where: store.where,
    close: () => {
      // Server first, so no request reaches a closed database; the last figures need it open.
      closing ??= inFlight
        .settled(ANSWER_GRACE_MS)
        .then(() => server.close())
        .then(() => figures.close())
        .finally(() => store.close());
      return closing;
    },
  };
}
