import { ErrorCode, JsonRpcCode, McpTenantsError } from '../core/errors.js';
import {
  errorResponse,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import type { Caller } from '../core/pipeline.js';
import {
  isStatelessVersion,
  META,
  requestedVersion,
  SESSION_PROTOCOL_VERSIONS,
  STATELESS_PROTOCOL_VERSIONS,
} from '../core/revisions.js';
import {
  completeStatelessResult,
  discoverResult,
  ListenSession,
  parseSubscriptionFilter,
  StatelessRequestSession,
} from './stateless.js';
import type { TenantRelay } from './tenant-relay.js';

let nextSessionNumber = 1;

/** Methods the stateless revision removed: a request for one is answered 404 / -32601. */
const REMOVED_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/** The `_meta` keys every stateless request must carry (2026-07-28, base protocol, `_meta`). */
const REQUIRED_META = [META.protocolVersion, META.clientCapabilities] as const;

/**
 * Checks a stateless request as the 2026-07-28 revision asks, in the order
 * the official SDK's HTTP host applies them: the required `_meta` (-32602),
 * then a protocol version we speak (-32022), then a method that still
 * exists (-32601). `headerVersion` is HTTP's `MCP-Protocol-Version`, checked
 * first there (-32020). Undefined: the request may go on.
 */
export function checkStatelessRequest(
  request: JsonRpcRequest,
  headerVersion?: string | undefined,
): JsonRpcResponse | undefined {
  const meta = metaOf(request.params);
  const missing = REQUIRED_META.filter((key) =>
    key === META.clientCapabilities
      ? typeof meta?.[key] !== 'object' || meta?.[key] === null || Array.isArray(meta?.[key])
      : typeof meta?.[key] !== 'string',
  );
  if (missing.length > 0) {
    return errorResponse(
      request.id,
      JsonRpcCode.INVALID_PARAMS,
      `Invalid params: missing _meta keys: ${missing.join(', ')}`,
    );
  }
  const version = requestedVersion(request) as string;
  if (headerVersion !== undefined && headerVersion !== version) {
    return errorResponse(
      request.id,
      JsonRpcCode.HEADER_MISMATCH,
      `Header mismatch: MCP-Protocol-Version header "${headerVersion}" does not match _meta "${version}"`,
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
  if (REMOVED_METHODS.has(request.method)) {
    return errorResponse(
      request.id,
      JsonRpcCode.METHOD_NOT_FOUND,
      `Method not found: ${request.method} does not exist in protocol revision ${version}`,
    );
  }
  return undefined;
}

/**
 * Serves one stateless (2026-07-28) request through a tenant's relay, whatever
 * revision its child speaks: `server/discover` is answered from the child's
 * handshake, everything else is forwarded in a session that lives as long as
 * the request, and the result gets the fields the revision requires.
 * Related notifications (progress, requested logs) go to `sink`.
 */
export async function serveStatelessRequest(
  relay: TenantRelay,
  request: JsonRpcRequest,
  caller: Caller,
  sink: (message: JsonRpcMessage) => boolean,
  cancel?: AbortSignal,
): Promise<JsonRpcResponse> {
  const refused = checkStatelessRequest(request);
  if (refused) return refused;
  const handshake = await relay.initialize(undefined);
  if (request.method === 'server/discover') {
    return {
      jsonrpc: '2.0',
      id: request.id,
      result: discoverResult(handshake, SESSION_PROTOCOL_VERSIONS),
    };
  }
  const session = new StatelessRequestSession(
    `stateless-${nextSessionNumber++}`,
    caller,
    request,
    sink,
  );
  relay.attach(session);
  const onCancel = (): void =>
    relay.notify(session, {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: request.id, reason: 'the client closed the response stream' },
    });
  cancel?.addEventListener('abort', onCancel, { once: true });
  try {
    if (session.logLevel) {
      await relay.forward(session, {
        jsonrpc: '2.0',
        id: `${String(request.id)}:log-level`,
        method: 'logging/setLevel',
        params: { level: session.logLevel },
      });
    }
    const response = await relay.forward(session, request);
    if (!('result' in response)) return response;
    return {
      ...response,
      result: completeStatelessResult(request.method, response.result, handshake.serverInfo),
    };
  } finally {
    cancel?.removeEventListener('abort', onCancel);
    relay.detach(session);
  }
}

/**
 * Opens a `subscriptions/listen` stream: acknowledges it, subscribes the
 * child to the requested resource URIs, and from then on sends the opted-in
 * change notifications to `sink`. `close()` ends it.
 */
export async function openListenStream(
  relay: TenantRelay,
  request: JsonRpcRequest,
  caller: Caller,
  sink: (message: JsonRpcMessage) => boolean,
): Promise<{ close(): void }> {
  const filter = parseSubscriptionFilter(request.params);
  const session = new ListenSession(
    `listen-${nextSessionNumber++}`,
    caller,
    request.id,
    filter,
    sink,
  );
  await relay.initialize(undefined);
  relay.attach(session);
  for (const [index, uri] of (filter.resourceSubscriptions ?? []).entries()) {
    const answer = await relay.forward(session, {
      jsonrpc: '2.0',
      id: `listen:${index}`,
      method: 'resources/subscribe',
      params: { uri },
    });
    if ('error' in answer) {
      // Nothing stays subscribed for a stream that never opens.
      relay.detach(session);
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        `cannot listen to ${uri}: ${answer.error.message}`,
        { data: { childError: answer.error.code } },
      );
    }
  }
  sink(session.acknowledgement());
  return { close: () => relay.detach(session) };
}
