import { ErrorCode, JsonRpcCode, McpTenantsError } from '../core/errors.js';
import {
  errorResponse,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../core/jsonrpc.js';
import type { Caller } from '../core/pipeline.js';
import {
  isStatelessVersion,
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

/** `UnsupportedProtocolVersionError` naming what we speak, or undefined when fine. */
export function checkStatelessVersion(request: JsonRpcRequest): JsonRpcResponse | undefined {
  const version = requestedVersion(request);
  if (version === undefined && request.method === 'server/discover') return undefined;
  if (version !== undefined && isStatelessVersion(version)) return undefined;
  return errorResponse(
    request.id,
    JsonRpcCode.UNSUPPORTED_PROTOCOL_VERSION,
    'Unsupported protocol version',
    {
      supported: [...STATELESS_PROTOCOL_VERSIONS, ...SESSION_PROTOCOL_VERSIONS],
      requested: version ?? null,
    },
  );
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
  const refused = checkStatelessVersion(request);
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
