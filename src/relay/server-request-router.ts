import type { ChildChannel } from '../core/child-handle.js';
import { RELATED_REQUEST_META_KEY } from '../core/child-meta.js';
import { JsonRpcCode } from '../core/errors.js';
import {
  errorResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import type { LogLimiter } from '../core/log-limiter.js';
import type { RelaySession } from '../core/pipeline.js';
import type { PendingRequests } from './pending-requests.js';
import {
  capabilityFor,
  type OutstandingServerRequest,
  routeUnattributed,
  ServerRequestIds,
  type ServerRequestRoute,
  supports,
  withoutRoutingMeta,
} from './server-requests.js';

export interface ServerRequestRouterOptions {
  pending: PendingRequests;
  /** Writes to a child while it is the running one (a stopped child is told nothing more). */
  toChild: (channel: ChildChannel, message: JsonRpcMessage) => void;
  /** Hands a message to a session; false when it could not take it. */
  deliver: (
    session: RelaySession,
    message: JsonRpcMessage,
    related: JsonRpcId | undefined,
  ) => boolean;
  /** How long a client may take to answer (the tenant's `request_timeout_ms`). */
  timeoutMs: () => number;
  strays: LogLimiter;
}

/**
 * The child's own requests (sampling, elicitation, roots, ping): each goes
 * to the one session it concerns under an id of the relay's own, and the
 * client's answer goes back to the child under the child's id.
 */
export class ServerRequestRouter {
  private readonly ids = new ServerRequestIds();
  /** By the id the client saw: a child's request (answered to that child), or the relay's own. */
  private readonly outstanding = new Map<
    string,
    | (OutstandingServerRequest<RelaySession> & { channel: ChildChannel })
    | { session: RelaySession; timer: NodeJS.Timeout; resolve: (answer: JsonRpcResponse) => void }
  >();

  constructor(private readonly options: ServerRequestRouterOptions) {}

  /** Requests sent to clients and not answered yet. */
  get size(): number {
    return this.outstanding.size;
  }

  /** A request from the child: answered here (ping), sent to its session, or refused at once. */
  fromChild(request: JsonRpcRequest, channel: ChildChannel): void {
    const toChild = (message: JsonRpcMessage) => this.options.toChild(channel, message);
    if (request.method === 'ping') {
      toChild({ jsonrpc: '2.0', id: request.id, result: {} });
      return;
    }
    const target = this.route(request, capabilityFor(request.method));
    if ('refused' in target) {
      toChild(errorResponse(request.id, target.refused.code, target.refused.message));
      return;
    }
    const id = this.ids.mint();
    const timer = this.expiry(id);
    this.outstanding.set(id, {
      session: target.session,
      childRequestId: request.id,
      timer,
      channel,
    });
    const forwarded = { ...request, id, params: withoutRoutingMeta(request.params) };
    if (!this.options.deliver(target.session, forwarded, target.relatedClientId)) {
      this.answer(
        id,
        errorResponse(
          null,
          JsonRpcCode.INTERNAL_ERROR,
          'the client has no open stream to receive this request',
        ),
      );
    }
  }

  /**
   * The relay's own request to a client (fulfilling a child's
   * `input_required` for a session client); resolves with the client's
   * answer, or an error when it gave none in time or cannot take it.
   */
  ask(
    session: RelaySession,
    request: { method: string; params?: JsonObject | undefined },
    related: JsonRpcId,
  ): Promise<JsonRpcResponse> {
    return new Promise((resolve) => {
      const id = this.ids.mint();
      const timer = this.expiry(id);
      this.outstanding.set(id, { session, timer, resolve });
      const message = {
        jsonrpc: '2.0' as const,
        id,
        method: request.method,
        params: request.params,
      };
      if (!this.options.deliver(session, message, related)) {
        this.answer(
          id,
          errorResponse(
            null,
            JsonRpcCode.INTERNAL_ERROR,
            'the client has no open stream to receive requests',
          ),
        );
      }
    });
  }

  /** A client's answer; only the session the request went to may give it. */
  respond(session: RelaySession, response: JsonRpcResponse): void {
    const id = typeof response.id === 'string' ? response.id : undefined;
    const outstanding = id === undefined ? undefined : this.outstanding.get(id);
    if (!outstanding || outstanding.session !== session || id === undefined) {
      this.options.strays.warn('client answered a request it was never sent; dropped');
      return;
    }
    this.answer(id, response);
  }

  /** The session closed: the child's requests to it fail now instead of timing out. */
  sessionClosed(session: RelaySession): void {
    for (const [id, outstanding] of this.outstanding) {
      if (outstanding.session !== session) continue;
      this.answer(id, errorResponse(null, JsonRpcCode.INTERNAL_ERROR, 'the session closed'));
    }
  }

  /** A child is gone: its requests have nobody to answer. */
  childExited(channel: ChildChannel): void {
    for (const [id, outstanding] of this.outstanding) {
      if (!('channel' in outstanding) || outstanding.channel !== channel) continue;
      clearTimeout(outstanding.timer);
      this.outstanding.delete(id);
    }
  }

  /** The timer that answers request `id` with a timeout when its client stays silent. */
  private expiry(id: string): NodeJS.Timeout {
    const timer = setTimeout(
      () =>
        this.answer(
          id,
          errorResponse(null, JsonRpcCode.REQUEST_TIMEOUT, 'the client did not answer in time'),
        ),
      this.options.timeoutMs(),
    );
    timer.unref();
    return timer;
  }

  private answer(id: string, response: JsonRpcResponse): void {
    const outstanding = this.outstanding.get(id);
    if (!outstanding) return;
    clearTimeout(outstanding.timer);
    this.outstanding.delete(id);
    if ('resolve' in outstanding) {
      outstanding.resolve(response);
      return;
    }
    this.options.toChild(outstanding.channel, {
      ...response,
      id: outstanding.childRequestId,
    } as JsonRpcResponse);
  }

  /**
   * Exact when the child names the request it is working on (and that
   * request's client declared the capability); otherwise only the one
   * session that can be meant, else a refusal (see `routeUnattributed`).
   */
  private route(
    request: JsonRpcRequest,
    capability: string | undefined,
  ): ServerRequestRoute<RelaySession> {
    const { pending } = this.options;
    const related = metaOf(request.params)?.[RELATED_REQUEST_META_KEY];
    if (related === undefined) {
      return routeUnattributed(request.method, capability, pending.clientRequests());
    }
    const entry = pending.get(related);
    if (!entry?.session) {
      const named = String(JSON.stringify(related)).slice(0, 100);
      return {
        refused: {
          code: JsonRpcCode.INVALID_PARAMS,
          message: `cannot route ${request.method}: it names request ${named}, which is not in flight (answered, cancelled, or its session closed)`,
        },
      };
    }
    if (!supports(entry.session.capabilities, capability)) {
      return {
        refused: {
          code: JsonRpcCode.METHOD_NOT_FOUND,
          message: `cannot route ${request.method}: the client of the request it names did not declare the ${capability} capability`,
        },
      };
    }
    return { session: entry.session, relatedClientId: entry.clientId };
  }
}
