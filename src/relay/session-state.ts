import type { TenantConfig } from '../core/config.js';
import { errorFrom, JsonRpcCode } from '../core/errors.js';
import {
  errorResponse,
  type JsonObject,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../core/jsonrpc.js';
import type { RelaySession } from '../core/pipeline.js';
import { isLogLevel, LogLevels, type McpLogLevel } from './log-levels.js';
import { SubscriptionRegistry, subscriptionsFull } from './subscriptions.js';

/**
 * What each session asked of the tenant's one child — its log level and its
 * resource subscriptions — kept per session by the relay, while the child
 * hears only the sum: the most verbose level, and each URI once. `tell`
 * sends the child the supervisor's own request when that sum changes.
 */
export class SessionState {
  private readonly subscriptions = new SubscriptionRegistry<RelaySession>();
  private readonly logLevels = new LogLevels<RelaySession>();

  constructor(private readonly tell: (method: string, params: JsonObject) => void) {}

  /** Subscribed URIs over all sessions, counted per session. */
  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /**
   * Answers what is per session (`logging/setLevel`, `resources/subscribe`
   * and `unsubscribe` when the child need not hear them); undefined: the
   * request goes on to the child.
   */
  answer(
    session: RelaySession,
    request: JsonRpcRequest,
    tenant: TenantConfig,
  ): JsonRpcResponse | undefined {
    const ok = { jsonrpc: '2.0' as const, id: request.id, result: {} };
    switch (request.method) {
      case 'logging/setLevel': {
        const level = request.params?.level;
        if (!isLogLevel(level)) {
          return errorResponse(request.id, JsonRpcCode.INVALID_PARAMS, 'invalid log level');
        }
        this.changeLevels(() => this.logLevels.set(session, level));
        return ok;
      }
      case 'resources/subscribe': {
        const uri = request.params?.uri;
        if (typeof uri !== 'string') return uriRequired(request);
        const limit = tenant.quotas.max_subscriptions_per_session;
        const added = this.subscriptions.add(session, uri, limit);
        if (added === 'full')
          return errorFrom(request.id, subscriptionsFull(tenant.id, limit, uri));
        return added === 'first' ? undefined : ok;
      }
      case 'resources/unsubscribe': {
        const uri = request.params?.uri;
        if (typeof uri !== 'string') return uriRequired(request);
        if (!this.subscriptions.isSubscribed(session, uri)) return ok;
        return this.subscriptions.remove(session, uri) ? undefined : ok;
      }
      default:
        return undefined;
    }
  }

  /** The child refused a session's first subscription to `uri`: it holds none. */
  subscribeFailed(session: RelaySession, uri: string): void {
    this.subscriptions.remove(session, uri);
  }

  /** Forgets a session; the child drops what only that session wanted. */
  forget(session: RelaySession): void {
    for (const uri of this.subscriptions.removeSession(session)) {
      this.tell('resources/unsubscribe', { uri });
    }
    this.changeLevels(() => this.logLevels.delete(session));
  }

  /** A restarted child learns again what the sessions asked of the old one. */
  restore(): void {
    const level = this.logLevels.childLevel();
    if (level !== undefined) this.tell('logging/setLevel', { level });
    for (const uri of this.subscriptions.uris()) this.tell('resources/subscribe', { uri });
  }

  subscribers(uri: string): ReadonlySet<RelaySession> {
    return this.subscriptions.subscribers(uri);
  }

  /** The level a session's log messages are asked at (its own, else the default). */
  logLevelOf(session: RelaySession): McpLogLevel {
    return this.logLevels.levelOf(session);
  }

  /** Whether a session takes a log message of `level`. */
  wantsLog(session: RelaySession, level: McpLogLevel): boolean {
    if (session.stateless && !this.logLevels.has(session)) return false;
    return this.logLevels.wants(session, level);
  }

  private changeLevels(change: () => void): void {
    const before = this.logLevels.childLevel();
    change();
    const after = this.logLevels.childLevel();
    if (after !== before && after !== undefined) this.tell('logging/setLevel', { level: after });
  }
}

function uriRequired(request: JsonRpcRequest): JsonRpcResponse {
  return errorResponse(request.id, JsonRpcCode.INVALID_PARAMS, 'uri is required');
}
