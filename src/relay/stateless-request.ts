import { ErrorCode, errorFrom, JsonRpcCode, McpTenantsError } from '../core/errors.js';
import {
  errorResponse,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import type { Caller } from '../core/pipeline.js';
import { META, SESSION_PROTOCOL_VERSIONS } from '../core/revisions.js';
import {
  inputRequestsOf,
  isInputRequired,
  MRTR_METHODS,
  missingCapability,
  undeclared,
} from './input-required.js';
import type { RoundOutcome } from './input-rounds.js';
import { grantsDigest, requestDigest, type StateBinding } from './request-state.js';
import {
  completeStatelessResult,
  discoverResult,
  ListenSession,
  parseSubscriptionFilter,
  StatelessRequestSession,
} from './stateless.js';
import type { TenantRelay } from './tenant-relay.js';

let nextSessionNumber = 1;

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
  // The fronts checked the request (checkStatelessRequest) before handing it here.
  const handshake = (await relay.channel()).initializeResult;
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
      : { ...response, id: request.id, error: statelessError(response.error) };
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
  // Digests are made only for a call that has a state to open or seal.
  const binding = (): StateBinding => ({
    tenant: relay.tenantId,
    user: caller.userId,
    method: request.method,
    target: requestDigest(request),
    grants: grantsDigest(caller.permissions),
  });
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
    const state = await relay.stateSeal.open(params.requestState, binding());
    const parked = state.parked;
    if (parked !== undefined) {
      // Closing the retry's stream gives up the call, as closing the first one would.
      const onCancel = () => relay.inputRounds.abandonParked(parked);
      whenAborted(cancel, onCancel);
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
  whenAborted(cancel, onCancel);
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
  whenAborted(cancel, onCancel);
  try {
    await applyLogLevel(relay, session, request);
    const answer = await relay.forward(session, request);
    // MRTR is for tools/call, prompts/get and resources/read only.
    if (isInputRequired(answer)) {
      return errorResponse(
        request.id,
        JsonRpcCode.INTERNAL_ERROR,
        `the tenant's server asked for input on ${request.method}, which cannot ask for any`,
      );
    }
    return answer;
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
  binding: () => StateBinding,
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
          binding(),
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
        binding(),
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

/** An open listen stream; `ended` resolves with its last answer if the child ended it. */
export interface ListenStream {
  close(): void;
  ended?: Promise<JsonRpcResponse | undefined>;
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
): Promise<ListenStream> {
  const filter = parseSubscriptionFilter(request.params);
  const session = new ListenSession(
    `listen-${nextSessionNumber++}`,
    caller,
    request.id,
    filter,
    sink,
  );
  const stateless = (await relay.channel()).speaksStateless;
  relay.attach(session);
  if (stateless) {
    // The child keeps the stream itself; what it tags with it comes to this session.
    let closed = false;
    const ended = relay
      .forward(session, request)
      .then((end) => (closed ? undefined : { ...end, id: request.id }));
    sink(session.acknowledgement());
    return {
      ended,
      close: () => {
        closed = true;
        relay.detach(session);
      },
    };
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

/**
 * Runs `onAbort` when the client closes its stream, or at once when it
 * already has (it may close while the child starts or the state is opened).
 */
function whenAborted(cancel: AbortSignal | undefined, onAbort: () => void): void {
  if (cancel?.aborted) onAbort();
  else cancel?.addEventListener('abort', onAbort, { once: true });
}

/**
 * An error as the stateless revision has it: a 2025 child's -32002
 * (resource not found) is -32602 there, which 2026-07-28 implementations
 * send instead ("Error codes" of its base protocol).
 */
function statelessError(error: JsonRpcErrorObject): JsonRpcErrorObject {
  return error.code === JsonRpcCode.RESOURCE_NOT_FOUND_2025
    ? { ...error, code: JsonRpcCode.INVALID_PARAMS }
    : error;
}
