import { ErrorCode, McpTenantsError } from '../errors.js';
import type { TenantConfig } from '../manifest/types.js';
import type { SpawnPlan } from '../supervisor/child-process.js';
import type { Logger } from '../telemetry/logger.js';
import { ChildLink } from './child-link.js';
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
} from './jsonrpc.js';
import { negotiateProtocolVersion } from './protocol.js';

/** What a front gives the relay for each of its sessions. */
export interface RelaySession {
  readonly id: string;
  readonly userId: string;
  /**
   * Messages for this session that are not the direct answer to a forwarded
   * request: notifications, and server-to-client requests. `relatedRequestId`
   * names the session's own request they belong to, when there is one.
   */
  deliver(message: JsonRpcMessage, relatedRequestId: JsonRpcId | undefined): void;
}

interface PendingRequest {
  session: RelaySession;
  clientId: JsonRpcId;
  progressToken: string | number | undefined;
  timer: NodeJS.Timeout;
  resolve: (response: JsonRpcResponse) => void;
}

export interface TenantRelayOptions {
  tenant: TenantConfig;
  /** Builds the child's command line; called for every (re)start. */
  plan: () => SpawnPlan;
  maxLineBytes: number;
  log: Logger;
  initializeTimeoutMs?: number;
}

/**
 * One tenant's child, shared by all of the tenant's sessions. Ids (and
 * progress tokens) are rewritten to a counter of the relay's own on the way
 * in and restored on the way out, so sessions that reuse the same ids never
 * see each other's answers. Everything else passes through unchanged.
 */
export class TenantRelay {
  private link: ChildLink | undefined;
  private starting: Promise<ChildLink> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** Per session: its own request id → the id the child saw. */
  private readonly inflight = new Map<RelaySession, Map<JsonRpcId, number>>();
  private closed = false;

  constructor(private readonly options: TenantRelayOptions) {}

  get tenantId(): string {
    return this.options.tenant.id;
  }

  get sessionCount(): number {
    return this.inflight.size;
  }

  get childPid(): number | undefined {
    return this.link?.alive ? this.link.pid : undefined;
  }

  attach(session: RelaySession): void {
    if (!this.inflight.has(session)) this.inflight.set(session, new Map());
  }

  /** Forgets a session; its requests still in the child are cancelled there. */
  detach(session: RelaySession): void {
    const own = this.inflight.get(session);
    if (!own) return;
    this.inflight.delete(session);
    for (const childId of own.values()) {
      const entry = this.pending.get(childId);
      if (!entry) continue;
      this.settle(childId, entry, errorResponse(entry.clientId, -32800, 'session closed'));
      this.link?.send(cancelled(childId, 'session closed'));
    }
  }

  /** Answers a session's `initialize` from the child's one handshake. */
  async initialize(params: JsonObject | undefined): Promise<JsonObject> {
    const link = await this.ensureLink();
    const child = link.initializeResult;
    const result: JsonObject = {
      ...child,
      protocolVersion: negotiateProtocolVersion(params?.protocolVersion),
    };
    return result;
  }

  /** Sends a request to the child; resolves with its response, an error, or a timeout. */
  async forward(session: RelaySession, request: JsonRpcRequest): Promise<JsonRpcResponse> {
    let link: ChildLink;
    try {
      link = await this.ensureLink();
    } catch (error) {
      return errorFrom(request.id, error);
    }
    const own = this.inflight.get(session);
    if (!own) return errorResponse(request.id, -32600, 'session is closed');
    if (own.has(request.id)) {
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
      const timeoutMs = this.options.tenant.request_timeout_ms;
      const timer = setTimeout(() => this.timeOut(childId), timeoutMs);
      timer.unref();
      this.pending.set(childId, {
        session,
        clientId: request.id,
        progressToken,
        timer,
        resolve,
      });
      own.set(request.id, childId);
      link.send({ ...request, id: childId });
    });
  }

  /** Client-to-child notifications; only those naming a request need rewriting. */
  notify(session: RelaySession, notification: JsonRpcNotification): void {
    if (notification.method === 'notifications/initialized') return; // the supervisor already sent its own
    if (notification.method === 'notifications/cancelled') {
      const requestId = notification.params?.requestId as JsonRpcId | undefined;
      const childId =
        requestId === undefined ? undefined : this.inflight.get(session)?.get(requestId);
      if (childId === undefined) return;
      const entry = this.pending.get(childId);
      if (entry) this.settle(childId, entry, errorResponse(entry.clientId, -32800, 'cancelled'));
      this.link?.send({ ...notification, params: { ...notification.params, requestId: childId } });
      return;
    }
    if (this.link?.alive) this.link.send(notification);
  }

  /** Stops the child gracefully and fails whatever is still pending. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const link = this.link ?? (await this.starting?.catch(() => undefined));
    this.failAll('the supervisor is shutting down', ErrorCode.SHUTTING_DOWN);
    await link?.stop('supervisor shutdown');
  }

  /** Kills the child at once (tests, limits). */
  killChild(reason: string): void {
    this.link?.kill(reason);
  }

  private ensureLink(): Promise<ChildLink> {
    if (this.closed) {
      return Promise.reject(
        new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down'),
      );
    }
    if (this.link?.alive) return Promise.resolve(this.link);
    if (this.starting) return this.starting;
    const log = this.options.log;
    log.info('starting child');
    this.starting = ChildLink.open({
      plan: this.options.plan(),
      maxLineBytes: this.options.maxLineBytes,
      initializeTimeoutMs: this.options.initializeTimeoutMs ?? 30_000,
      log,
      onMessage: (message) => this.fromChild(message),
      onExit: (_exit, reason) => this.childExited(reason),
    }).then(
      (link) => {
        this.starting = undefined;
        if (this.closed) {
          void link.stop('supervisor shutdown');
          throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
        }
        this.link = link;
        return link;
      },
      (error: unknown) => {
        this.starting = undefined;
        log.error('child failed to start', {
          error: error instanceof Error ? error.message : String(error),
        });
        throw error;
      },
    );
    return this.starting;
  }

  private fromChild(message: JsonRpcMessage): void {
    if (isResponse(message)) {
      const childId = message.id;
      const entry = typeof childId === 'number' ? this.pending.get(childId) : undefined;
      if (!entry || typeof childId !== 'number') {
        this.options.log.warn('child answered an id it was never sent (late or bogus); dropped', {
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

  private childRequest(request: JsonRpcRequest): void {
    if (request.method === 'ping') {
      this.link?.send({ jsonrpc: '2.0', id: request.id, result: {} });
      return;
    }
    this.link?.send(
      errorResponse(
        request.id,
        -32601,
        `mcp-tenants does not relay server-to-client ${request.method} requests yet`,
      ),
    );
  }

  private childNotification(notification: JsonRpcNotification): void {
    if (notification.method === 'notifications/progress') {
      const token = notification.params?.progressToken;
      const entry = typeof token === 'number' ? this.pending.get(token) : undefined;
      if (!entry || entry.progressToken === undefined) return;
      entry.session.deliver(
        { ...notification, params: { ...notification.params, progressToken: entry.progressToken } },
        entry.clientId,
      );
      return;
    }
    if (notification.method === 'notifications/cancelled') {
      const requestId = notification.params?.requestId;
      const entry = typeof requestId === 'number' ? this.pending.get(requestId) : undefined;
      if (entry) {
        const reason = notification.params?.reason;
        this.settle(
          requestId as number,
          entry,
          errorResponse(
            entry.clientId,
            -32800,
            `the tenant's server cancelled the request${typeof reason === 'string' ? `: ${reason}` : ''}`,
          ),
        );
      }
      return;
    }
    // Everything else concerns the whole tenant (list changes, logs, updates).
    for (const session of this.inflight.keys()) session.deliver(notification, undefined);
  }

  private timeOut(childId: number): void {
    const entry = this.pending.get(childId);
    if (!entry) return;
    const ms = this.options.tenant.request_timeout_ms;
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
    this.link?.send(cancelled(childId, `timed out after ${ms} ms`));
  }

  private settle(childId: number, entry: PendingRequest, response: JsonRpcResponse): void {
    clearTimeout(entry.timer);
    this.pending.delete(childId);
    this.inflight.get(entry.session)?.delete(entry.clientId);
    entry.resolve(response);
  }

  private childExited(reason: string): void {
    this.link = undefined;
    if (this.closed) return;
    this.options.log.warn('child exited', { reason });
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

export function errorFrom(id: JsonRpcId | null, error: unknown): JsonRpcResponse {
  if (error instanceof McpTenantsError) {
    return errorResponse(id, error.jsonRpcCode, error.message, { code: error.code, ...error.data });
  }
  const message = error instanceof Error ? error.message : String(error);
  return errorResponse(id, -32603, message);
}
