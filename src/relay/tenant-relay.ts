import type { ChildChannel, ChildHandle, ChildListener } from '../core/child-handle.js';
import type { TenantConfig } from '../core/config.js';
import { ErrorCode, errorFrom, JsonRpcCode, McpTenantsError } from '../core/errors.js';
import {
  errorResponse,
  isRequest,
  isResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import {
  attachedTrace,
  Cancellation,
  type RelaySession,
  type RequestStage,
  type RequestTrace,
  runStages,
} from '../core/pipeline.js';
import { negotiateProtocolVersion } from '../core/revisions.js';
import { routeChildNotification } from './child-notifications.js';
import { fulfilInputRequired, isInputRequired, MRTR_METHODS } from './input-required.js';
import { InputRounds } from './input-rounds.js';
import { PendingRequests } from './pending-requests.js';
import { RequestStateSeal } from './request-state.js';
import { ServerRequestRouter } from './server-request-router.js';
import { SessionState } from './session-state.js';
import { answerForStatelessChild, withStatelessMeta } from './stateless-child.js';

/** Stateless calls of one tenant that may wait for their clients' input at once. */
const MAX_PARKED_CALLS = 256;

export interface TenantRelayOptions {
  tenant: TenantConfig;
  /** The tenant's child, started on demand; told what the relay must hear of it. */
  child: (listener: ChildListener) => ChildHandle;
  log: Logger;
  /** Policy, quota and telemetry stages every client request passes, in order. */
  stages?: readonly RequestStage[] | undefined;
}

/**
 * One tenant's child, shared by all of the tenant's sessions. Ids (and
 * progress tokens) are rewritten to a counter of the relay's own on the way
 * in and restored on the way out, so sessions that reuse the same ids never
 * see each other's answers; notifications and the child's own requests are
 * routed to the session(s) they concern. Everything else passes through.
 * The child itself (start, restart, limits) is its handle's business.
 */
export class TenantRelay {
  private readonly child: ChildHandle;
  private tenant: TenantConfig;
  private readonly pending = new PendingRequests();
  private readonly sessionState: SessionState;
  private readonly serverRequests: ServerRequestRouter;
  private closed = false;
  /** Stateless calls parked while their clients answer the child's requests. */
  readonly inputRounds: InputRounds;
  /** Seals the `requestState` of this tenant's input rounds. */
  readonly stateSeal = new RequestStateSeal();
  /** Stray answers (a child's or a client's) are logged, but never one line each in a flood. */
  private readonly strays: LogLimiter;

  constructor(private readonly options: TenantRelayOptions) {
    this.tenant = options.tenant;
    this.strays = new LogLimiter(options.log);
    this.sessionState = new SessionState((method, params) => this.internal(method, params));
    this.serverRequests = new ServerRequestRouter({
      pending: this.pending,
      toChild: (channel, message) => this.sendTo(channel, message),
      deliver: (session, message, related) => this.deliverTo(session, message, related),
      timeoutMs: () => this.tenant.request_timeout_ms,
      strays: this.strays,
    });
    this.inputRounds = new InputRounds({
      relay: { respond: (s, r) => this.respond(s, r), detach: (s) => this.detach(s) },
      ttlMs: () => this.tenant.request_timeout_ms,
      maxParked: MAX_PARKED_CALLS,
    });
    this.child = options.child({
      message: (message, from) => this.fromChild(message, from),
      ready: () => this.sessionState.restore(),
      exited: (reason, crashed, channel) => this.childExited(reason, crashed, channel),
      quiet: () => this.pending.size === 0 && this.serverRequests.size === 0,
    });
  }

  get tenantId(): string {
    return this.tenant.id;
  }

  get config(): TenantConfig {
    return this.tenant;
  }

  /** Applies a reloaded configuration: timeouts and quotas at once. */
  reconfigure(tenant: TenantConfig): void {
    this.tenant = tenant;
  }

  get sessionCount(): number {
    return this.pending.sessionCount;
  }

  /** Requests in the child now; a restart waits until this is 0, shutdown for a while. */
  get requestsInChild(): number {
    return this.pending.size;
  }

  /** Sizes of the routing tables, to check that nothing grows without bound. */
  get tableSizes(): Record<string, number> {
    return {
      sessions: this.pending.sessionCount,
      pending: this.pending.size,
      subscriptions: this.sessionState.subscriptionCount,
      serverRequests: this.serverRequests.size,
      inputRounds: this.inputRounds.size,
    };
  }

  attach(session: RelaySession): void {
    this.pending.attach(session);
  }

  /** Forgets a session and everything routed for it. */
  detach(session: RelaySession): void {
    const settled = this.pending.detach(session, (clientId) =>
      errorResponse(clientId, JsonRpcCode.REQUEST_CANCELLED, 'session closed'),
    );
    if (!settled) return;
    for (const { childId, channel } of settled) {
      this.sendTo(channel, cancelled(childId, 'session closed'));
    }
    this.serverRequests.sessionClosed(session);
    this.sessionState.forget(session);
  }

  /** The tenant's child, started if need be: what it speaks and said of itself. */
  channel(): Promise<ChildChannel> {
    return this.child.acquire();
  }

  /** Answers a session's `initialize` from the child's one handshake. */
  async initialize(params: JsonObject | undefined): Promise<JsonObject> {
    return {
      ...(await this.child.acquire()).initializeResult,
      protocolVersion: negotiateProtocolVersion(params?.protocolVersion),
    };
  }

  /**
   * A client's request: through the request stages (policy, quota,
   * telemetry), then to the child. Resolves with its response, an error, or
   * a timeout; never rejects.
   */
  async forward(session: RelaySession, request: JsonRpcRequest): Promise<JsonRpcResponse> {
    const stages = this.options.stages ?? [];
    const cancellation = new Cancellation();
    const arrived = this.pending.onItsWay(session, request.id, cancellation);
    const trace = attachedTrace(request);
    const context = {
      tenant: this.tenant,
      session,
      request,
      startedAt: performance.now(),
      cancellation,
      trace,
    };
    try {
      return await runStages(stages, context, (next) =>
        this.forwardNow(session, next, cancellation, trace),
      ).catch((error) => errorFrom(request.id, error));
    } finally {
      arrived();
    }
  }

  private async forwardNow(
    session: RelaySession,
    request: JsonRpcRequest,
    cancellation: Cancellation,
    trace: RequestTrace | undefined,
  ): Promise<JsonRpcResponse> {
    // From the last stage to the child's stdin (writing to it ends the span), or to a local answer.
    const relayed = trace?.step('relay');
    const local = this.sessionState.answer(session, request, this.tenant);
    if (local) {
      relayed?.(local);
      return local;
    }
    const response = await this.forwardToChild(session, request, cancellation, trace);
    relayed?.(response);
    if (request.method === 'resources/subscribe' && 'error' in response) {
      this.sessionState.subscribeFailed(session, String(request.params?.uri));
    }
    // A stateless client takes `input_required` itself; a session client is asked by us.
    if (!session.stateless && MRTR_METHODS.has(request.method) && isInputRequired(response)) {
      return fulfilInputRequired(session, request, response, {
        ask: (asked, input, related) => this.serverRequests.ask(asked, input, related),
        retry: (retry) => this.forwardToChild(session, retry, cancellation, trace),
        cancellation,
      });
    }
    return response;
  }

  /** Client-to-child notifications; only those naming a request need rewriting. */
  notify(session: RelaySession, notification: JsonRpcNotification): void {
    if (notification.method === 'notifications/initialized') return; // the supervisor sent its own
    if (notification.method === 'notifications/cancelled') {
      const requestId = notification.params?.requestId as JsonRpcId | undefined;
      if (requestId === undefined) return;
      const childId = this.pending.childIdOf(session, requestId);
      if (childId === undefined) {
        // Not at the child yet (queued, or waiting for a start): it never will be.
        this.pending.cancellationOf(session, requestId)?.cancel();
        return;
      }
      const entry = this.pending.get(childId);
      if (!entry) return;
      this.pending.settle(
        childId,
        errorResponse(entry.clientId, JsonRpcCode.REQUEST_CANCELLED, 'cancelled'),
      );
      this.sendTo(entry.channel, {
        ...notification,
        params: { ...notification.params, requestId: childId },
      });
      return;
    }
    const current = this.child.current;
    // The stateless revision removed roots change notices: its children ask each time.
    if (current?.speaksStateless && notification.method === 'notifications/roots/list_changed')
      return;
    current?.send(notification);
  }

  /** A client's answer to a request the child sent it (sampling, elicitation, roots). */
  respond(session: RelaySession, response: JsonRpcResponse): void {
    this.serverRequests.respond(session, response);
  }

  /** Waits until no request is in the child, or `ms` has passed. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Fails whatever is still pending; the child's handle is closed by its owner. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inputRounds.close();
    this.failAll('the supervisor is shutting down', ErrorCode.SHUTTING_DOWN);
  }

  private async forwardToChild(
    session: RelaySession | null,
    request: JsonRpcRequest,
    cancellation?: Cancellation,
    trace?: RequestTrace,
  ): Promise<JsonRpcResponse> {
    let channel: ChildChannel;
    try {
      channel = await this.child.acquire();
    } catch (error) {
      return errorFrom(request.id, error);
    }
    // Cancelled while the child was starting: it never sees the request.
    if (cancellation?.cancelled) {
      return errorResponse(request.id, JsonRpcCode.REQUEST_CANCELLED, 'cancelled');
    }
    if (channel.congested) {
      return errorFrom(
        request.id,
        new McpTenantsError(
          ErrorCode.CHILD_UNAVAILABLE,
          "the tenant's server is not reading its input; try again shortly",
        ),
      );
    }
    if (session && !this.pending.isAttached(session)) {
      return errorResponse(request.id, JsonRpcCode.INVALID_REQUEST, 'session is closed');
    }
    if (channel.speaksStateless && !session?.stateless) {
      // A session client (or the relay itself) in front of a stateless child.
      const local = answerForStatelessChild(request);
      if (local) return local;
      request = withStatelessMeta(
        request,
        session?.capabilities,
        session ? this.sessionState.logLevelOf(session) : undefined,
      );
    }
    if (session && this.pending.childIdOf(session, request.id) !== undefined) {
      return errorResponse(
        request.id,
        JsonRpcCode.INVALID_REQUEST,
        `request id ${JSON.stringify(request.id)} is already in flight on this session`,
      );
    }

    const childId = this.pending.nextChildId();
    const meta = metaOf(request.params);
    const progressToken = meta?.progressToken as string | number | undefined;
    // Progress tokens must be unique across sessions too: use the child-side
    // id, in a copy (the client's request may be sent again in a next round).
    let params =
      meta && progressToken !== undefined
        ? { ...request.params, _meta: { ...meta, progressToken: childId } }
        : request.params;
    const response = this.pending.add(
      childId,
      { session, clientId: request.id, progressToken, channel },
      // A listen stream lasts as long as its client wants it.
      request.method === 'subscriptions/listen' ? undefined : this.tenant.request_timeout_ms,
      (id) => this.timeOut(id),
    );
    if (trace && !Array.isArray(params)) {
      // The child joins the trace under the span of this write; untraced, _meta stays as it came.
      const span = trace.toChild(metaOf(params));
      params = { ...params, _meta: span.meta };
      void response.then(
        (answer) => span.end(answer),
        () => span.end(),
      );
    }
    channel.send({ ...request, id: childId, params });
    return response;
  }

  /** The supervisor's own request to the child; its answer only matters in the log. */
  private internal(method: string, params: JsonObject): void {
    // Re-applied when the child (re)starts. A stateless child has neither
    // method: log levels travel in each request's _meta.
    if (!this.child.current || this.child.current.speaksStateless) return;
    void this.forwardToChild(null, {
      jsonrpc: '2.0',
      id: `internal:${method}`,
      method,
      params,
    }).then((response) => {
      if ('error' in response) {
        this.options.log.warn(`child refused ${method}`, { error: response.error.message });
      }
    });
  }

  private fromChild(message: JsonRpcMessage, from: ChildChannel): void {
    if (isResponse(message)) {
      const entry = this.pending.get(message.id);
      if (!entry) {
        this.strays.warn('child answered an id it was never sent (late or bogus); dropped', {
          id: String(message.id),
        });
        return;
      }
      this.pending.settle(
        message.id as number,
        {
          ...message,
          id: entry.clientId,
        } as JsonRpcResponse,
      );
      return;
    }
    if (isRequest(message)) {
      this.serverRequests.fromChild(message, from);
      return;
    }
    routeChildNotification(message, {
      pending: this.pending,
      state: this.sessionState,
      deliver: (session, routed, related) => this.deliverTo(session, routed, related),
    });
  }

  /**
   * Hands one message to one session. A session that fails to take it (a
   * closed stream, a write that throws) loses that message only: the child's
   * other messages, and every other session, are not affected.
   */
  private deliverTo(
    session: RelaySession,
    message: JsonRpcMessage,
    relatedClientId: JsonRpcId | undefined,
  ): boolean {
    try {
      return session.deliver(message, relatedClientId);
    } catch (error) {
      this.strays.line('error', 'delivering a message to a session failed; dropped', {
        session: session.id,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }

  private timeOut(childId: number): void {
    const entry = this.pending.get(childId);
    if (!entry) return;
    const ms = this.tenant.request_timeout_ms;
    this.pending.settle(
      childId,
      errorFrom(
        entry.clientId,
        new McpTenantsError(
          ErrorCode.CHILD_TIMEOUT,
          `the tenant's server did not answer within ${ms} ms; the request was cancelled`,
        ),
      ),
    );
    this.sendTo(entry.channel, cancelled(childId, `timed out after ${ms} ms`));
  }

  /** Writes to a child only while it is the running one: a stopping child is told nothing more. */
  private sendTo(channel: ChildChannel, message: JsonRpcMessage): void {
    if (this.child.current === channel) channel.send(message);
  }

  private childExited(reason: string, crashed: boolean, channel: ChildChannel): void {
    this.serverRequests.childExited(channel);
    if (this.closed) return;
    if (crashed) this.options.log.warn('child exited', { reason });
    this.failAll(
      `the tenant's server stopped while handling this request (${reason}); it restarts on the next request`,
      ErrorCode.CHILD_CRASHED,
      channel,
    );
  }

  private failAll(message: string, code: ErrorCode, channel?: ChildChannel): void {
    this.pending.settleAll(
      (entry) => errorFrom(entry.clientId, new McpTenantsError(code, message)),
      channel,
    );
  }
}

function cancelled(requestId: number, reason: string): JsonRpcNotification {
  return { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } };
}
