import { JsonRpcCode } from '../core/errors.js';
import {
  errorResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../core/jsonrpc.js';
import type { Cancellation, RelaySession } from '../core/pipeline.js';
import { capabilityFor, supports } from './server-requests.js';

/** The requests that may answer `input_required` (MRTR, "Supported Requests"). */
export const MRTR_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'prompts/get',
  'resources/read',
]);

/** Rounds the relay fulfils for one request of a session client before giving up. */
export const MAX_INPUT_ROUNDS = 8;
/** Requests of one round the relay sends a session client; a child asking more is refused. */
export const MAX_INPUT_REQUESTS = 32;

/** One entry of `inputRequests`: a request the client is to answer. */
export interface InputRequest {
  method: string;
  params?: JsonObject | undefined;
}

export function isInputRequired(response: JsonRpcResponse): boolean {
  return 'result' in response && response.result.resultType === 'input_required';
}

/** The `inputRequests` of an `input_required` result that are well formed, by key. */
export function inputRequestsOf(result: JsonObject): Map<string, InputRequest> {
  const found = new Map<string, InputRequest>();
  const raw = result.inputRequests;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return found;
  for (const [key, value] of Object.entries(raw as JsonObject)) {
    if (typeof value !== 'object' || value === null) continue;
    const { method, params } = value as JsonObject;
    if (typeof method !== 'string') continue;
    found.set(key, {
      method,
      params: typeof params === 'object' && params !== null ? (params as JsonObject) : undefined,
    });
  }
  return found;
}

/** The first input request the client did not declare the capability for, if any. */
export function undeclared(
  capabilities: JsonObject | undefined,
  requests: Iterable<InputRequest>,
): InputRequest | undefined {
  for (const request of requests) {
    const capability = capabilityFor(request.method);
    if (capability === undefined || !supports(capabilities, capability)) return request;
  }
  return undefined;
}

export function missingCapability(id: JsonRpcId, request: InputRequest): JsonRpcResponse {
  const capability = capabilityFor(request.method);
  return errorResponse(
    id,
    JsonRpcCode.MISSING_REQUIRED_CLIENT_CAPABILITY,
    capability
      ? `the tenant's server asks for ${request.method}, and this client did not declare the ${capability} capability`
      : `the tenant's server asks for ${request.method}, which no client can answer`,
    { requiredCapabilities: capability ? { [capability]: {} } : {} },
  );
}

export interface InputFulfilment {
  /** Sends one request to the session's client and waits for its answer. */
  ask(session: RelaySession, request: InputRequest, related: JsonRpcId): Promise<JsonRpcResponse>;
  /** Sends the retry to the child. */
  retry(request: JsonRpcRequest): Promise<JsonRpcResponse>;
  /** The client's cancellation of the request: the rounds stop at once. */
  cancellation?: Cancellation | undefined;
}

/**
 * A child answered a session client's request with `input_required` (a
 * child of the stateless revision): the relay asks the client itself, with
 * real server-to-client requests on its session, all of a round at once,
 * and retries the child with the `inputResponses` and the child's own
 * `requestState`, round after round, up to MAX_INPUT_ROUNDS. A client that
 * lacks a capability, or refuses, gets a clear error instead.
 */
export async function fulfilInputRequired(
  session: RelaySession,
  request: JsonRpcRequest,
  first: JsonRpcResponse,
  bridge: InputFulfilment,
): Promise<JsonRpcResponse> {
  let answer = first;
  for (let round = 1; round <= MAX_INPUT_ROUNDS && isInputRequired(answer); round += 1) {
    const result = (answer as { result: JsonObject }).result;
    const requests = inputRequestsOf(result);
    // None at all (only a requestState) is a plain retry, as MRTR allows.
    if (requests.size > MAX_INPUT_REQUESTS) {
      return errorResponse(
        request.id,
        JsonRpcCode.INTERNAL_ERROR,
        `the tenant's server asked for ${requests.size} inputs in one round; the supervisor relays at most ${MAX_INPUT_REQUESTS}`,
      );
    }
    const lacking = undeclared(session.capabilities, requests.values());
    if (lacking) return missingCapability(request.id, lacking);
    const keys = [...requests.keys()];
    const asked = Promise.all(
      [...requests.values()].map((input) => bridge.ask(session, input, request.id)),
    );
    const answers = await untilCancelled(asked, bridge.cancellation);
    if (!answers) {
      return errorResponse(request.id, JsonRpcCode.REQUEST_CANCELLED, 'cancelled');
    }
    const inputResponses: JsonObject = {};
    for (const [index, reply] of answers.entries()) {
      const key = keys[index] as string;
      if ('error' in reply) {
        return errorResponse(
          request.id,
          reply.error.code,
          `the client did not answer the tenant's ${requests.get(key)?.method} request: ${reply.error.message}`,
        );
      }
      inputResponses[key] = reply.result;
    }
    const params: JsonObject = { ...request.params, inputResponses };
    if (result.requestState !== undefined) params.requestState = result.requestState;
    else delete params.requestState;
    answer = await bridge.retry({ ...request, params });
  }
  if (!isInputRequired(answer)) return answer;
  return errorResponse(
    request.id,
    JsonRpcCode.INTERNAL_ERROR,
    `the tenant's server still asks for input after ${MAX_INPUT_ROUNDS} rounds; the request was given up`,
  );
}

/** `work`'s result, or undefined as soon as the request is cancelled. */
function untilCancelled<T>(
  work: Promise<T>,
  cancellation: Cancellation | undefined,
): Promise<T | undefined> {
  if (!cancellation) return work;
  if (cancellation.cancelled) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const unlisten = cancellation.onCancel(() => resolve(undefined));
    void work.then((value) => {
      unlisten();
      resolve(value);
    });
  });
}
