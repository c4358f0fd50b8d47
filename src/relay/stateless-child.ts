import type { JsonObject, JsonRpcRequest, JsonRpcResponse } from '../core/jsonrpc.js';
import { metaOf } from '../core/jsonrpc.js';
import { META, STATELESS_PROTOCOL_VERSIONS, SUPERVISOR_INFO } from '../core/revisions.js';

// What the relay does for a session client (or itself) in front of a child
// that speaks only the stateless revision (2026-07-28).

/**
 * The session revisions' own methods, for a child that speaks only the
 * stateless one: `ping` is answered here (`logging/setLevel` never gets
 * this far: sessions' levels are kept by the relay and ride in each request's
 * `_meta`), and `resources/subscribe` / `unsubscribe`
 * (which the revision replaced by `subscriptions/listen`) succeed without
 * reaching it, so no updates come from such a child for them.
 */
export function answerForStatelessChild(request: JsonRpcRequest): JsonRpcResponse | undefined {
  switch (request.method) {
    case 'ping':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { jsonrpc: '2.0', id: request.id, result: {} };
    default:
      return undefined;
  }
}

/**
 * A session client's request as the stateless revision carries it: its
 * envelope in `_meta`, with the session's log level (such a child logs only
 * for requests that ask).
 */
export function withStatelessMeta(
  request: JsonRpcRequest,
  capabilities: JsonObject | undefined,
  logLevel: string | undefined,
): JsonRpcRequest {
  const meta = metaOf(request.params) ?? {};
  return {
    ...request,
    params: {
      ...request.params,
      _meta: {
        ...meta,
        [META.protocolVersion]: STATELESS_PROTOCOL_VERSIONS[0],
        [META.clientCapabilities]: capabilities ?? {},
        [META.clientInfo]: SUPERVISOR_INFO,
        ...(logLevel === undefined ? {} : { [META.logLevel]: logLevel }),
      },
    },
  };
}
