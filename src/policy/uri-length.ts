import { ErrorCode, McpTenantsError } from '../errors.js';
import type { JsonRpcRequest } from '../relay/jsonrpc.js';

/** The resource URI a request names, where its method has one. */
function uriOf(request: JsonRpcRequest): unknown {
  switch (request.method) {
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return request.params?.uri;
    case 'completion/complete':
      return (request.params?.ref as { uri?: unknown } | null | undefined)?.uri;
    default:
      return undefined;
  }
}

/**
 * A resource URI is an address, not a payload: one longer than
 * `maxLength` characters is refused (USAGE, JSON-RPC -32602) before policy
 * matches globs against it or a subscription keeps it.
 */
export function checkUriLength(request: JsonRpcRequest, maxLength: number): void {
  const uri = uriOf(request);
  if (typeof uri !== 'string' || uri.length <= maxLength) return;
  throw new McpTenantsError(
    ErrorCode.USAGE,
    `invalid ${request.method} request: the resource URI is ${uri.length} characters long, ` +
      `over the limit of ${maxLength} (server.max_uri_length)`,
    { data: { limit: maxLength, length: uri.length } },
  );
}
