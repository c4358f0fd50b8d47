import { ErrorCode, McpTenantsError } from '../core/errors.js';

/** What `add` did: the URI's first subscriber (the child must be told), another one, or refused. */
export type Subscribed = 'first' | 'added' | 'full';

/**
 * Which sessions subscribed to which resource URIs. The child is subscribed
 * once per URI, when the first session subscribes, and unsubscribed when the
 * last one leaves; updates go only to the URI's subscribers. A session holds
 * at most `max_subscriptions_per_session` URIs, so no client can make the
 * supervisor (or the child) keep an unbounded set for it.
 */
export class SubscriptionRegistry<Session> {
  private readonly byUri = new Map<string, Set<Session>>();
  private readonly bySession = new Map<Session, Set<string>>();

  /**
   * Adds a subscriber. Subscribing again to a URI the session holds is
   * `added` (a no-op); a new URI past `limit` is `full`, and nothing changes.
   */
  add(session: Session, uri: string, limit = Number.POSITIVE_INFINITY): Subscribed {
    const own = this.bySession.get(session);
    if (own?.has(uri)) return 'added';
    if ((own?.size ?? 0) >= limit) return 'full';
    if (own) own.add(uri);
    else this.bySession.set(session, new Set([uri]));
    const sessions = this.byUri.get(uri);
    if (sessions) {
      sessions.add(session);
      return 'added';
    }
    this.byUri.set(uri, new Set([session]));
    return 'first';
  }

  /** Removes a subscriber; true when it was the URI's last (the child must be told). */
  remove(session: Session, uri: string): boolean {
    const own = this.bySession.get(session);
    if (own?.delete(uri) && own.size === 0) this.bySession.delete(session);
    const sessions = this.byUri.get(uri);
    if (!sessions?.delete(session)) return false;
    if (sessions.size > 0) return false;
    this.byUri.delete(uri);
    return true;
  }

  /** Forgets a session; returns the URIs nobody is subscribed to any more. */
  removeSession(session: Session): string[] {
    const emptied: string[] = [];
    for (const uri of [...(this.bySession.get(session) ?? [])]) {
      if (this.remove(session, uri)) emptied.push(uri);
    }
    return emptied;
  }

  subscribers(uri: string): ReadonlySet<Session> {
    return this.byUri.get(uri) ?? new Set();
  }

  isSubscribed(session: Session, uri: string): boolean {
    return this.bySession.get(session)?.has(uri) ?? false;
  }

  /** How many URIs one session is subscribed to. */
  countOf(session: Session): number {
    return this.bySession.get(session)?.size ?? 0;
  }

  uris(): string[] {
    return [...this.byUri.keys()];
  }

  get size(): number {
    return this.byUri.size;
  }
}

/** QUOTA_EXCEEDED (JSON-RPC `JsonRpcCode.QUOTA_EXCEEDED`) for a subscription past the session's cap. */
export function subscriptionsFull(tenantId: string, limit: number, uri: string): McpTenantsError {
  return new McpTenantsError(
    ErrorCode.QUOTA_EXCEEDED,
    `cannot subscribe to ${JSON.stringify(uri)}: a session of tenant ${tenantId} may be subscribed ` +
      `to at most ${limit} resource URIs at once (max_subscriptions_per_session); ` +
      'unsubscribe from one it no longer needs first',
    { data: { quota: 'max_subscriptions_per_session', limit } },
  );
}
