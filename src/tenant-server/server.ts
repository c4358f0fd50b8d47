import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import type { TenantServerOptions } from './options.js';
import { registerDataPrompts } from './prompts.js';
import { registerDataResources } from './resources.js';
import { TenantStore } from './store.js';
import { registerDataTools } from './tools.js';

export { type TenantServerOptions, tenantServerOptionsFromEnv } from './options.js';

export const TENANT_SERVER_NAME = 'mcp-tenants-child';
export const TENANT_SERVER_VERSION = '0.1.0';

export interface TenantServerHandle {
  /** Stops serving, then closes the database. Idempotent. */
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
  const store = TenantStore.open(options);
  const server = createTenantMcpServer(store, log);
  server.server.onerror = (error) => log.warn('protocol error', { error: error.message });
  try {
    await server.connect(new StdioServerTransport());
  } catch (error) {
    store.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    close: () => {
      // Server first, so no request reaches a closed database.
      closing ??= server.close().finally(() => store.close());
      return closing;
    },
  };
}
