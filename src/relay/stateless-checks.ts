import { JsonRpcCode } from '../core/errors.js';
import {
  errorResponse,
  type JsonRpcRequest,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import {
  isStatelessVersion,
  META,
  requestedVersion,
  SESSION_PROTOCOL_VERSIONS,
  STATELESS_PROTOCOL_VERSIONS,
} from '../core/revisions.js';

/**
 * Methods the stateless revision removed (and the Tasks extension's old
 * `tasks/list` and `tasks/result`): a request for one is answered 404 / -32601.
 */
export const REMOVED_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
  'tasks/list',
  'tasks/result',
]);

/** The `_meta` keys every stateless request must carry (2026-07-28, base protocol, `_meta`). */
const REQUIRED_META = [META.protocolVersion, META.clientCapabilities] as const;

/** What HTTP mirrors of a request in headers (Streamable HTTP, 2026-07-28). */
export interface MirroredHeaders {
  version: string | undefined;
  method: string | undefined;
  /** `Mcp-Name`, decoded. */
  name: string | undefined;
}

/**
 * Checks a stateless request in the order of the official SDK's HTTP host:
 * the `_meta` envelope (-32602), a version header the body disagrees with
 * (-32020), an `Mcp-Method` the body disagrees with (-32020), a version we
 * speak (-32022), the headers that must be there and the `Mcp-Name` (-32020),
 * and last a method that still exists (-32601, 404). Over stdio there are no
 * headers. Undefined: the request may go on.
 */
export function checkStatelessRequest(
  request: JsonRpcRequest,
  headers?: MirroredHeaders,
): JsonRpcResponse | undefined {
  const mismatch = (text: string) =>
    errorResponse(request.id, JsonRpcCode.HEADER_MISMATCH, `Header mismatch: ${text}`);
  const meta = metaOf(request.params);
  const missing = REQUIRED_META.filter((key) =>
    key === META.clientCapabilities
      ? typeof meta?.[key] !== 'object' || meta?.[key] === null || Array.isArray(meta?.[key])
      : typeof meta?.[key] !== 'string',
  );
  if (missing.length > 0) {
    // A 2025 handshake sent with a 2026 header is a header the body disowns.
    if (headers?.version !== undefined && request.method === 'initialize') {
      return mismatch(`initialize is not a request of protocol revision ${headers.version}`);
    }
    return errorResponse(
      request.id,
      JsonRpcCode.INVALID_PARAMS,
      `Invalid params: missing _meta keys: ${missing.join(', ')}`,
    );
  }
  const version = requestedVersion(request) as string;
  if (headers?.version !== undefined && headers.version !== version) {
    return mismatch(
      `MCP-Protocol-Version header "${headers.version}" does not match _meta "${version}"`,
    );
  }
  if (headers?.method !== undefined && headers.method !== request.method) {
    return mismatch(
      `Mcp-Method header "${headers.method}" does not match body method "${request.method}"`,
    );
  }
  if (!isStatelessVersion(version)) {
    return errorResponse(
      request.id,
      JsonRpcCode.UNSUPPORTED_PROTOCOL_VERSION,
      'Unsupported protocol version',
      {
        supported: [...STATELESS_PROTOCOL_VERSIONS, ...SESSION_PROTOCOL_VERSIONS],
        requested: version,
      },
    );
  }
  if (headers) {
    if (headers.version === undefined)
      return mismatch('the MCP-Protocol-Version header is required');
    if (headers.method === undefined) return mismatch('the Mcp-Method header is required');
    const named =
      request.method === 'resources/read'
        ? request.params?.uri
        : request.method === 'tools/call' || request.method === 'prompts/get'
          ? request.params?.name
          : undefined;
    if (named !== undefined && headers.name !== named) {
      return mismatch(
        `Mcp-Name header does not match the body's ${request.method === 'resources/read' ? 'uri' : 'name'}`,
      );
    }
  }
  if (REMOVED_METHODS.has(request.method)) {
    return errorResponse(
      request.id,
      JsonRpcCode.METHOD_NOT_FOUND,
      `Method not found: ${request.method} does not exist in protocol revision ${version}`,
    );
  }
  return undefined;
}
