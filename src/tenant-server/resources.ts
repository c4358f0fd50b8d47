import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Variables } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { McpError, ErrorCode as RpcErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, isMcpTenantsError } from '../core/errors.js';
import { MAX_KEY_LENGTH, MAX_LIST_LIMIT } from './limits.js';
import type { TenantStore } from './store.js';

export const DATA_URI_TEMPLATE = 'tenant://{tenant}/data/{key}';

/** The resource URI of one key. Keys are percent-encoded, so `/` and `,` stay inside the segment. */
export function dataResourceUri(tenantId: string, key: string): string {
  return `tenant://${tenantId}/data/${encodeURIComponent(key)}`;
}

/** Every key readable as a text/plain resource; listing is capped at MAX_LIST_LIMIT keys. */
export function registerDataResources(server: McpServer, store: TenantStore): void {
  const template = new ResourceTemplate(DATA_URI_TEMPLATE, {
    list: async () => ({
      resources: (await store.list({ limit: MAX_LIST_LIMIT })).items.map((item) => ({
        uri: dataResourceUri(store.tenantId, item.key),
        name: item.key,
        mimeType: 'text/plain',
        size: item.bytes,
      })),
    }),
    complete: {
      tenant: () => [store.tenantId],
      key: async (value) =>
        (await store.list({ prefix: value.slice(0, MAX_KEY_LENGTH), limit: 100 })).items.map(
          (item) => item.key,
        ),
    },
  });

  server.registerResource(
    'tenant-data',
    template,
    {
      title: 'Stored value',
      description: `A value stored by data_set, one resource per key of tenant ${store.tenantId}.`,
      mimeType: 'text/plain',
    },
    async (uri, variables) => {
      const key = keyFromVariables(store.tenantId, uri, variables);
      const value = await readValue(store, key);
      if (value === undefined) throw invalid(`no such key: ${key}`);
      return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: value }] };
    },
  );
}

function keyFromVariables(tenantId: string, uri: URL, variables: Variables): string {
  // The template matches any tenant; this child only serves its own.
  if (variables.tenant !== tenantId) {
    throw invalid(`resource ${uri.href} does not belong to tenant ${tenantId}`);
  }
  const encoded = variables.key;
  if (typeof encoded !== 'string') throw invalid(`resource ${uri.href} names no key`);
  try {
    return decodeURIComponent(encoded);
  } catch (error) {
    throw invalid(`resource ${uri.href} has a malformed key: ${String(error)}`);
  }
}

async function readValue(store: TenantStore, key: string): Promise<string | undefined> {
  try {
    return await store.get(key);
  } catch (error) {
    // Validation failures (a bad key) are the caller's mistake, not ours.
    if (isMcpTenantsError(error) && error.code === ErrorCode.USAGE) throw invalid(error.message);
    // The store cannot answer now: said plainly, as an internal error.
    if (isMcpTenantsError(error)) throw new McpError(RpcErrorCode.InternalError, error.message);
    throw error;
  }
}

// resources/read has no isError result, so failures are protocol errors;
// Invalid Params (-32602) is what the SDK and the 2025-11-25 spec use for "not found".
function invalid(message: string): McpError {
  return new McpError(RpcErrorCode.InvalidParams, message);
}
