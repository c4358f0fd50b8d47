import type { ChildEvents } from '../core/child-events.js';
import type { TenantConfig } from '../core/config.js';
import { ErrorCode, errorFrom, McpTenantsError } from '../core/errors.js';
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
  type Caller,
  Cancellation,
  type RelaySession,
  type RequestStage,
  runStages,
} from '../core/pipeline.js';
import { negotiateProtocolVersion } from '../core/revisions.js';
import type { Isolation } from '../process/child-limits.js';
import type { ChildLink } from '../process/child-link.js';
import type { SpawnPlan } from '../process/child-process.js';
import { ChildSlot } from '../process/child-slot.js';
import type { RestartPolicy } from '../process/restart-policy.js';
import { isLogLevel, LogLevels, type McpLogLevel } from './log-levels.js';
import {
  capabilityFor,
  type InFlightRequest,
  type OutstandingServerRequest,
  RELATED_REQUEST_META_KEY,
  routeUnattributed,
  ServerRequestIds,
  type ServerRequestRoute,
  supports,
  withoutRoutingMeta,
} from './server-requests.js';
import { SubscriptionRegistry, subscriptionsFull } from './subscriptions.js';

interface PendingRequest {
  /** Null for the supervisor's own requests (subscriptions, log level). */
  session: RelaySession | null;
  clientId: JsonRpcId;
  progressToken: string | number | undefined;
  timer: NodeJS.Timeout;
  resolve: (response: JsonRpcResponse) => void;
}

export interface TenantRelayOptions {
  tenant: TenantConfig;
  /** Builds the child's command line from the current config; called for every (re)start. */
  plan: (tenant: TenantConfig) => SpawnPlan;
  restartPolicy?: RestartPolicy;
  maxLineBytes: number;
  /** Deepest JSON the child's stdout lines may nest (`server.max_json_depth`). */
  maxJsonDepth: number;
  log: Logger;
  /** Policy, quota and telemetry stages every client request passes, in order. */
  stages?: readonly RequestStage[] | undefined;
  /** Lifecycle of the tenant's child(ren), for telemetry. */
  events?: ChildEvents | undefined;
  /** Cgroups, rlimits and watchdog; absent: the child runs unlimited. */
  isolation?: (() => Isolation) | undefined;
}

/**
 * One tenant's child, shared by all of the tenant's sessions. Ids (and
 * progress tokens) are rewritten to a counter of the relay's own on the way
 * in and restored on the way out, so sessions that reuse the same ids never
 * see each other's answers; notifications and the child's own requests are
 * routed to the session(s) they concern. Everything else passes through.
 */
export class TenantRelay {
  private readonly slot: ChildSlot;
  private tenant: TenantConfig;
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** Per session: its own request id → the id the child saw. */
  private readonly inflight = new Map<RelaySession, Map<JsonRpcId, number>>();
  /** Per session: requests not yet at the child (in the stages or a cold start), to cancel them. */
  private readonly waiting = new Map<RelaySession, Map<JsonRpcId, Cancellation>>();
  private readonly subscriptions = new SubscriptionRegistry<RelaySession>();
  private readonly logLevels = new LogLevels<RelaySession>();
  private readonly serverRequestIds = new ServerRequestIds();
  private readonly serverRequests = new Map<string, OutstandingServerRequest<RelaySession>>();
  private closed = false;
  /** Stray answers (a child's or a client's) are logged, but never one line each in a flood. */
  private readonly strays: LogLimiter;

  constructor(private readonly options: TenantRelayOptions) {
    this.tenant = options.tenant;
    this.strays = new LogLimiter(options.log);
    this.slot = new ChildSlot({
      tenantId: options.tenant.id,
      plan: () => options.plan(this.tenant),
      limits: () => this.tenant.limits,
      isolation: options.isolation,
      events: options.events,
      maxLineBytes: options.maxLineBytes,
      maxJsonDepth: options.maxJsonDepth,
      log: options.log,
      initializeTimeoutMs: () => this.tenant.start_timeout_ms,
      maxWaitMs: () => this.tenant.request_timeout_ms,
      idleTimeoutMs: () => this.tenant.idle_timeout_ms,
      policy: options.restartPolicy,
      onMessage: (message) => this.fromChild(message),
      onReady: () => this.restoreChildState(),
      onExit: (reason, crashed) => this.childExited(reason, crashed),
      isQuiet: () => this.pending.size === 0 && this.serverRequests.size === 0,
    });
  }

  get tenantId(): string {
    return this.tenant.id;
  }

  get config(): TenantConfig {
    return this.tenant;
  }

  /** The child's lifecycle: state, pid, restarts; `reset()` ends a quarantine. */
  get child(): ChildSlot {
    return this.slot;
  }

  /** Applies a reloaded configuration: timeouts and quotas at once; limits see `applyLimits`. */
  reconfigure(tenant: TenantConfig): void {
    this.tenant = tenant;
  }

  /**
   * Gives the running child the tenant's current limits where the host can
   * change them live; otherwise restarts it once quiet, as for any other
   * change a process picks up only at start. Logs which. Never rejects.
   */
  async applyLimits(): Promise<void> {
    const log = this.options.log;
    const outcome = await this.slot.applyLimits(this.tenant.limits);
    if (this.closed) return;
    if (outcome.kind === 'applied') {
      log.info('limits applied to the running child', { changed: outcome.changes });
    } else if (outcome.kind === 'restart') {
      log.info('limits change needs a restart; restarting when quiet', { reason: outcome.reason });
      this.restartWhenQuiet('limits changed');
    }
  }

  /**
   * Stops the child as soon as no request is in it, so the next request
   * starts one with the current configuration; sessions stay open.
   */
  restartWhenQuiet(reason: string): void {
    const attempt = (): void => {
      if (this.closed) return;
      if (this.pending.size === 0) {
        void this.slot.stop(reason);
        return;
      }
      setTimeout(attempt, 50).unref();
    };
    attempt();
  }

  /** Starts the child now instead of on first use (`eager` tenants). */
  async warm(): Promise<void> {
    await this.slot.acquire();
  }

  get sessionCount(): number {
    return this.inflight.size;
  }

  get childPid(): number | undefined {
    return this.slot.pid;
  }

  /** Sizes of the routing tables, to check that nothing grows without bound. */
  get tableSizes(): Record<string, number> {
    return {
      sessions: this.inflight.size,
      pending: this.pending.size,
      subscriptions: this.subscriptions.size,
      serverRequests: this.serverRequests.size,
    };
  }

  attach(session: RelaySession): void {
    if (!this.inflight.has(session)) this.inflight.set(session, new Map());
    if (!this.waiting.has(session)) this.waiting.set(session, new Map());
  }

  /** Forgets a session and everything routed for it. */
  detach(session: RelaySession): void {
    const own = this.inflight.get(session);
    if (!own) return;
    this.inflight.delete(session);
    for (const cancellation of this.waiting.get(session)?.values() ?? []) cancellation.cancel();
    this.waiting.delete(session);
    for (const childId of own.values()) {
      const entry = this.pending.get(childId);
      if (!entry) continue;
      this.settle(childId, entry, errorResponse(entry.clientId, -32800, 'session closed'));
      this.sendToChild(cancelled(childId, 'session closed'));
    }
    for (const [id, outstanding] of this.serverRequests) {
      if (outstanding.session !== session) continue;
      this.answerServerRequest(id, outstanding, errorResponse(null, -32603, 'the session closed'));
    }
    for (const uri of this.subscriptions.removeSession(session)) {
      this.internal('resources/unsubscribe', { uri });
    }
    const before = this.logLevels.childLevel();
    this.logLevels.delete(session);
    const after = this.logLevels.childLevel();
    if (after !== before && after !== undefined)
      this.internal('logging/setLevel', { level: after });
  }

  /** Answers a session's `initialize` from the child's one handshake. */
  async initialize(params: JsonObject | undefined): Promise<JsonObject> {
    const link = await this.slot.acquire();
    return {
      ...link.initializeResult,
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
    const waiting = this.waiting.get(session);
    waiting?.set(request.id, cancellation);
    const context = {
      tenant: this.tenant,
      session,
      request,
      startedAt: performance.now(),
      cancellation,
    };
    try {
      return await runStages(stages, context, (next) =>
        this.forwardNow(session, next, cancellation),
      ).catch((error) => errorFrom(request.id, error));
    } finally {
      if (waiting?.get(request.id) === cancellation) waiting.delete(request.id);
    }
  }

  private async forwardNow(
    session: RelaySession,
    request: JsonRpcRequest,
    cancellation: Cancellation,
  ): Promise<JsonRpcResponse> {
    const local = this.answerLocally(session, request);
    if (local) return local;
    const response = await this.forwardToChild(session, request, cancellation);
    if (request.method === 'resources/subscribe' && 'error' in response) {
      this.subscriptions.remove(session, String(request.params?.uri));
    }
    return response;
  }

  /** Client-to-child notifications; only those naming a request need rewriting. */
  notify(session: RelaySession, notification: JsonRpcNotification): void {
    if (notification.method === 'notifications/initialized') return; // the supervisor sent its own
    if (notification.method === 'notifications/cancelled') {
      const requestId = notification.params?.requestId as JsonRpcId | undefined;
      if (requestId === undefined) return;
      const childId = this.inflight.get(session)?.get(requestId);
      if (childId === undefined) {
        // Not at the child yet (queued, or waiting for a start): it never will be.
        this.waiting.get(session)?.get(requestId)?.cancel();
        return;
      }
      const entry = this.pending.get(childId);
      if (entry) this.settle(childId, entry, errorResponse(entry.clientId, -32800, 'cancelled'));
      this.sendToChild({ ...notification, params: { ...notification.params, requestId: childId } });
      return;
    }
    this.slot.current?.send(notification);
  }

  /** A client's answer to a request the child sent it (sampling, elicitation, roots). */
  respond(session: RelaySession, response: JsonRpcResponse): void {
    const id = typeof response.id === 'string' ? response.id : undefined;
    const outstanding = id === undefined ? undefined : this.serverRequests.get(id);
    if (!outstanding || outstanding.session !== session || id === undefined) {
      this.strays.warn('client answered a request it was never sent; dropped');
      return;
    }
    this.answerServerRequest(id, outstanding, response);
  }

  /** Stops the child gracefully and fails whatever is still pending. */
  /** Waits until no request is in the child, or `ms` has passed. */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll('the supervisor is shutting down', ErrorCode.SHUTTING_DOWN);
    await this.slot.close();
  }

  /** Kills the child at once (tests, limits); counted as a crash. */
  killChild(reason: string): void {
    this.slot.kill(reason);
  }

  /** Requests the relay answers itself, to keep per-session state per session. */
  private answerLocally(
    session: RelaySession,
    request: JsonRpcRequest,
  ): JsonRpcResponse | undefined {
    const ok = { jsonrpc: '2.0' as const, id: request.id, result: {} };
    switch (request.method) {
      case 'logging/setLevel': {
        const level = request.params?.level;
        if (!isLogLevel(level)) return errorResponse(request.id, -32602, 'invalid log level');
        const before = this.logLevels.childLevel();
        this.logLevels.set(session, level);
        const after = this.logLevels.childLevel();
        if (after !== before && after !== undefined)
          this.internal('logging/setLevel', { level: after });
        return ok;
      }
      case 'resources/subscribe': {
        const uri = request.params?.uri;
        if (typeof uri !== 'string') return errorResponse(request.id, -32602, 'uri is required');
        const limit = this.tenant.quotas.max_subscriptions_per_session;
        const added = this.subscriptions.add(session, uri, limit);
        if (added === 'full')
          return errorFrom(request.id, subscriptionsFull(this.tenant.id, limit, uri));
        return added === 'first' ? undefined : ok;
      }
      case 'resources/unsubscribe': {
        const uri = request.params?.uri;
        if (typeof uri !== 'string') return errorResponse(request.id, -32602, 'uri is required');
        if (!this.subscriptions.isSubscribed(session, uri)) return ok;
        return this.subscriptions.remove(session, uri) ? undefined : ok;
      }
      default:
        return undefined;
    }
  }

  private async forwardToChild(
    session: RelaySession | null,
    request: JsonRpcRequest,
    cancellation?: Cancellation,
  ): Promise<JsonRpcResponse> {
    let link: ChildLink;
    try {
      link = await this.slot.acquire();
    } catch (error) {
      return errorFrom(request.id, error);
    }
    // Cancelled while the child was starting: it never sees the request.
    if (cancellation?.cancelled) return errorResponse(request.id, -32800, 'cancelled');
    if (link.congested) {
      return errorFrom(
        request.id,
        new McpTenantsError(
          ErrorCode.CHILD_UNAVAILABLE,
          "the tenant's server is not reading its input; try again shortly",
        ),
      );
    }
    const own = session ? this.inflight.get(session) : undefined;
    if (session && !own) return errorResponse(request.id, -32600, 'session is closed');
    if (own?.has(request.id)) {
      return errorResponse(
        request.id,
        -32600,
        `request id ${JSON.stringify(request.id)} is already in flight on this session`,
      );
    }

    const childId = this.nextId++;
    const meta = metaOf(request.params);
    const progressToken = meta?.progressToken as string | number | undefined;
    // Progress tokens must be unique across sessions too: use the child-side id.
    if (meta && progressToken !== undefined) meta.progressToken = childId;

    return new Promise<JsonRpcResponse>((resolve) => {
      const timeoutMs = this.tenant.request_timeout_ms;
      const timer = setTimeout(() => this.timeOut(childId), timeoutMs);
      timer.unref();
      this.pending.set(childId, { session, clientId: request.id, progressToken, timer, resolve });
      own?.set(request.id, childId);
      link.send({ ...request, id: childId });
    });
  }

  /** The supervisor's own request to the child; its answer only matters in the log. */
  private internal(method: string, params: JsonObject): void {
    if (!this.slot.current) return; // re-applied when the child (re)starts
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

  /** A restarted child learns again what the sessions asked of the old one. */
  private restoreChildState(): void {
    const level = this.logLevels.childLevel();
    if (level !== undefined) this.internal('logging/setLevel', { level });
    for (const uri of this.subscriptions.uris()) this.internal('resources/subscribe', { uri });
  }

  private fromChild(message: JsonRpcMessage): void {
    if (isResponse(message)) {
      const childId = message.id;
      const entry = typeof childId === 'number' ? this.pending.get(childId) : undefined;
      if (!entry || typeof childId !== 'number') {
        this.strays.warn('child answered an id it was never sent (late or bogus); dropped', {
          id: String(childId),
        });
        return;
      }
      this.settle(childId, entry, { ...message, id: entry.clientId } as JsonRpcResponse);
      return;
    }
    if (isRequest(message)) {
      this.childRequest(message);
      return;
    }
    this.childNotification(message);
  }

  /** Routes a child's request to the session that caused it (see server-requests.ts). */
  private childRequest(request: JsonRpcRequest): void {
    if (request.method === 'ping') {
      this.sendToChild({ jsonrpc: '2.0', id: request.id, result: {} });
      return;
    }
    const target = this.pickSessionFor(request, capabilityFor(request.method));
    if ('refused' in target) {
      this.sendToChild(errorResponse(request.id, target.refused.code, target.refused.message));
      return;
    }
    const id = this.serverRequestIds.mint();
    const timer = setTimeout(() => {
      const outstanding = this.serverRequests.get(id);
      if (outstanding) {
        this.answerServerRequest(
          id,
          outstanding,
          errorResponse(null, -32001, 'the client did not answer in time'),
        );
      }
    }, this.tenant.request_timeout_ms);
    timer.unref();
    this.serverRequests.set(id, { session: target.session, childRequestId: request.id, timer });
    const forwarded = { ...request, id, params: withoutRoutingMeta(request.params) };
    const delivered = this.deliverTo(target.session, forwarded, target.relatedClientId);
    if (!delivered) {
      const outstanding = this.serverRequests.get(id);
      if (outstanding) {
        this.answerServerRequest(
          id,
          outstanding,
          errorResponse(null, -32603, 'the client has no open stream to receive this request'),
        );
      }
    }
  }

  /**
   * Exact when the child names the request it is working on (and that
   * request's client declared the capability); otherwise only the one
   * session that can be meant, else a refusal (see `routeUnattributed`).
   */
  private pickSessionFor(
    request: JsonRpcRequest,
    capability: string | undefined,
  ): ServerRequestRoute<RelaySession> {
    const related = metaOf(request.params)?.[RELATED_REQUEST_META_KEY];
    if (related === undefined) {
      return routeUnattributed(request.method, capability, this.sessionRequests());
    }
    const entry = typeof related === 'number' ? this.pending.get(related) : undefined;
    if (!entry?.session) {
      const named = String(JSON.stringify(related)).slice(0, 100);
      return {
        refused: {
          code: -32602,
          message: `cannot route ${request.method}: it names request ${named}, which is not in flight (answered, cancelled, or its session closed)`,
        },
      };
    }
    if (!supports(entry.session.capabilities, capability)) {
      return {
        refused: {
          code: -32601,
          message: `cannot route ${request.method}: the client of the request it names did not declare the ${capability} capability`,
        },
      };
    }
    return { session: entry.session, relatedClientId: entry.clientId };
  }

  /** Every client request in the child (not the supervisor's own). */
  private *sessionRequests(): Generator<InFlightRequest<RelaySession>> {
    for (const [childId, entry] of this.pending) {
      if (entry.session) yield { childId, session: entry.session, clientId: entry.clientId };
    }
  }

  private answerServerRequest(
    id: string,
    outstanding: OutstandingServerRequest<RelaySession>,
    response: JsonRpcResponse,
  ): void {
    clearTimeout(outstanding.timer);
    this.serverRequests.delete(id);
    this.sendToChild({ ...response, id: outstanding.childRequestId } as JsonRpcResponse);
  }

  private childNotification(notification: JsonRpcNotification): void {
    const params = notification.params;
    switch (notification.method) {
      case 'notifications/progress': {
        const token = params?.progressToken;
        const entry = typeof token === 'number' ? this.pending.get(token) : undefined;
        if (!entry?.session || entry.progressToken === undefined) return;
        this.deliverTo(
          entry.session,
          { ...notification, params: { ...params, progressToken: entry.progressToken } },
          entry.clientId,
        );
        return;
      }
      case 'notifications/cancelled': {
        const requestId = params?.requestId;
        const entry = typeof requestId === 'number' ? this.pending.get(requestId) : undefined;
        if (!entry) return;
        const reason = typeof params?.reason === 'string' ? `: ${params.reason}` : '';
        this.settle(
          requestId as number,
          entry,
          errorResponse(
            entry.clientId,
            -32800,
            `the tenant's server cancelled the request${reason}`,
          ),
        );
        return;
      }
      case 'notifications/message': {
        const level = params?.level;
        if (!isLogLevel(level)) return;
        const related = this.relatedEntry(notification);
        const message = { ...notification, params: withoutRoutingMeta(params) };
        if (related?.session) {
          if (this.wantsLog(related.session, level)) {
            this.deliverTo(related.session, message, related.clientId);
          }
          return;
        }
        for (const session of this.inflight.keys()) {
          if (this.wantsLog(session, level)) this.deliverTo(session, message, undefined);
        }
        return;
      }
      case 'notifications/resources/updated': {
        const uri = typeof params?.uri === 'string' ? params.uri : '';
        for (const session of this.subscriptions.subscribers(uri)) {
          this.deliverTo(session, notification, undefined);
        }
        return;
      }
      default:
        // List changes and anything newer concern the whole tenant.
        for (const session of this.inflight.keys())
          this.deliverTo(session, notification, undefined);
    }
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

  private wantsLog(session: RelaySession, level: McpLogLevel): boolean {
    if (session.logsByDefault === false && !this.logLevels.has(session)) return false;
    return this.logLevels.wants(session, level);
  }

  /** The pending request a cooperating child's notification names, if any. */
  private relatedEntry(message: JsonRpcNotification): PendingRequest | undefined {
    const related = metaOf(message.params)?.[RELATED_REQUEST_META_KEY];
    return typeof related === 'number' ? this.pending.get(related) : undefined;
  }

  private timeOut(childId: number): void {
    const entry = this.pending.get(childId);
    if (!entry) return;
    const ms = this.tenant.request_timeout_ms;
    this.settle(
      childId,
      entry,
      errorFrom(
        entry.clientId,
        new McpTenantsError(
          ErrorCode.CHILD_TIMEOUT,
          `the tenant's server did not answer within ${ms} ms; the request was cancelled`,
        ),
      ),
    );
    this.sendToChild(cancelled(childId, `timed out after ${ms} ms`));
  }

  private settle(childId: number, entry: PendingRequest, response: JsonRpcResponse): void {
    clearTimeout(entry.timer);
    this.pending.delete(childId);
    if (entry.session) this.inflight.get(entry.session)?.delete(entry.clientId);
    entry.resolve(response);
  }

  private sendToChild(message: JsonRpcMessage): void {
    this.slot.current?.send(message);
  }

  private childExited(reason: string, crashed: boolean): void {
    for (const [id, outstanding] of this.serverRequests) {
      clearTimeout(outstanding.timer);
      this.serverRequests.delete(id);
    }
    if (this.closed) return;
    if (crashed) this.options.log.warn('child exited', { reason });
    this.failAll(
      `the tenant's server stopped while handling this request (${reason}); it restarts on the next request`,
      ErrorCode.CHILD_CRASHED,
    );
  }

  private failAll(message: string, code: ErrorCode): void {
    for (const [childId, entry] of this.pending) {
      this.settle(childId, entry, errorFrom(entry.clientId, new McpTenantsError(code, message)));
    }
  }
}

function cancelled(requestId: number, reason: string): JsonRpcNotification {
  return { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } };
}
