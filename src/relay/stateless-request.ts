import { ErrorCode, errorFrom, JsonRpcCode, McpTenantsError } from '../core/errors.js';
import {
  errorResponse,
  type JsonObject,
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
  inputRequestsOf,
  isInputRequired,
  MRTR_METHODS,
  missingCapability,
  undeclared,
} from './input-required.js';
import type { RoundOutcome } from './input-rounds.js';
import { requestDigest, type StateBinding } from './request-state.js';
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
 * the request (and its input rounds), and the result gets the fields the
 * revision requires. Related notifications (progress, requested logs) go to
 * `sink`. Input the child asks for comes back to the client as sealed
 * `input_required` rounds (see input-rounds.ts and request-state.ts).
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
  const complete = (response: JsonRpcResponse): JsonRpcResponse =>
    'result' in response
      ? {
          ...response,
          id: request.id,
          result: completeStatelessResult(request.method, response.result, handshake.serverInfo),
        }
      : { ...response, id: request.id };
  try {
    return complete(await serveRounds(relay, request, caller, sink, cancel));
  } catch (error) {
    return errorFrom(request.id, error);
  }
}

/** A call, or the retry of one of its rounds, to its answer or its next round. */
async function serveRounds(
  relay: TenantRelay,
  request: JsonRpcRequest,
  caller: Caller,
  sink: (message: JsonRpcMessage) => boolean,
  cancel: AbortSignal | undefined,
): Promise<JsonRpcResponse> {
  if (!MRTR_METHODS.has(request.method)) return forwardOnce(relay, request, caller, sink, cancel);
  const binding: StateBinding = {
    tenant: relay.tenantId,
    user: caller.userId,
    method: request.method,
    target: requestDigest(request),
  };
  const params = request.params ?? {};
  const inputResponses = params.inputResponses;
  if (inputResponses !== undefined && !isResponseMap(inputResponses)) {
    return errorResponse(
      request.id,
      JsonRpcCode.INVALID_PARAMS,
      'inputResponses must be an object whose values are the results of the requests asked for, by key',
    );
  }
  let forwarded = request;
  if (params.requestState !== undefined) {
    const state = await relay.stateSeal.open(params.requestState, binding);
    const parked = state.parked;
    if (parked !== undefined) {
      // Closing the retry's stream gives up the call, as closing the first one would.
      const onCancel = () => relay.inputRounds.abandonParked(parked);
      cancel?.addEventListener('abort', onCancel, { once: true });
      try {
        const outcome = await relay.inputRounds.resume(
          parked,
          state.round ?? 0,
          (inputResponses as JsonObject | undefined) ?? {},
          sink,
        );
        return await roundAnswer(relay, request, binding, outcome);
      } finally {
        cancel?.removeEventListener('abort', onCancel);
      }
    }
    // A child of the stateless revision gets back its own state, unsealed.
    const { requestState: _sealed, ...rest } = params;
    forwarded = {
      ...request,
      params: state.child === undefined ? rest : { ...rest, requestState: state.child },
    };
  }
  const session = openSession(relay, forwarded, caller, sink);
  const onCancel = () => relay.inputRounds.abandon(session);
  cancel?.addEventListener('abort', onCancel, { once: true });
  try {
    await applyLogLevel(relay, session, forwarded);
    const outcome = await relay.inputRounds.start(session, relay.forward(session, forwarded));
    return await roundAnswer(relay, request, binding, outcome);
  } finally {
    cancel?.removeEventListener('abort', onCancel);
  }
}

/** A request that cannot ask for input: one exchange with the child. */
async function forwardOnce(
  relay: TenantRelay,
  request: JsonRpcRequest,
  caller: Caller,
  sink: (message: JsonRpcMessage) => boolean,
  cancel: AbortSignal | undefined,
): Promise<JsonRpcResponse> {
  const session = openSession(relay, request, caller, sink);
  const onCancel = (): void =>
    relay.notify(session, {
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: request.id, reason: 'the client closed the response stream' },
    });
  cancel?.addEventListener('abort', onCancel, { once: true });
  try {
    await applyLogLevel(relay, session, request);
    return await relay.forward(session, request);
  } finally {
    cancel?.removeEventListener('abort', onCancel);
    relay.detach(session);
  }
}

function openSession(
  relay: TenantRelay,
  request: JsonRpcRequest,
  caller: Caller,
  sink: (message: JsonRpcMessage) => boolean,
): StatelessRequestSession {
  const session = new StatelessRequestSession(
    `stateless-${nextSessionNumber++}`,
    caller,
    request,
    sink,
  );
  relay.attach(session);
  return session;
}

/** The request's own log level (`io.modelcontextprotocol/logLevel`) for the child. */
async function applyLogLevel(
  relay: TenantRelay,
  session: StatelessRequestSession,
  request: JsonRpcRequest,
): Promise<void> {
  if (!session.logLevel) return;
  await relay.forward(session, {
    jsonrpc: '2.0',
    id: `${String(request.id)}:log-level`,
    method: 'logging/setLevel',
    params: { level: session.logLevel },
  });
}

/**
 * What the client gets for a round: the child's answer (its own
 * `input_required` with the child's state sealed inside ours), or the
 * requests of a parked call as an `input_required` result.
 */
async function roundAnswer(
  relay: TenantRelay,
  request: JsonRpcRequest,
  binding: StateBinding,
  outcome: RoundOutcome,
): Promise<JsonRpcResponse> {
  const ttlMs = relay.config.request_timeout_ms;
  if (outcome.kind === 'ask') {
    const inputRequests = Object.fromEntries(outcome.requests);
    return {
      jsonrpc: '2.0',
      id: request.id,
      result: {
        resultType: 'input_required',
        inputRequests,
        requestState: await relay.stateSeal.seal(
          binding,
          { parked: outcome.parked, round: outcome.round },
          ttlMs,
        ),
      },
    };
  }
  const response = outcome.response;
  if (!isInputRequired(response) || !('result' in response)) return response;
  // The child asks for input itself (it speaks the stateless revision).
  const requests = inputRequestsOf(response.result);
  const capabilities = metaOf(request.params)?.[META.clientCapabilities] as JsonObject | undefined;
  const lacking = undeclared(capabilities, requests.values());
  if (lacking) return missingCapability(request.id, lacking);
  const childState = response.result.requestState;
  return {
    ...response,
    result: {
      ...response.result,
      requestState: await relay.stateSeal.seal(
        binding,
        { child: typeof childState === 'string' ? childState : undefined },
        ttlMs,
      ),
    },
  };
}

function isResponseMap(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every(
    (entry) => typeof entry === 'object' && entry !== null && !Array.isArray(entry),
  );
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
  if (await relay.childSpeaksStateless()) {
    // The child keeps the stream itself; what it tags with it comes to this session.
    void relay.forward(session, request).then((end) => {
      if ('error' in end) sink(end);
    });
    sink(session.acknowledgement());
    return { close: () => relay.detach(session) };
  }
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
