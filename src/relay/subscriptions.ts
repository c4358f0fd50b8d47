/**
 * Which sessions subscribed to which resource URIs. The child is subscribed
 * once per URI, when the first session subscribes, and unsubscribed when the
 * last one leaves; updates go only to the URI's subscribers.
 */
export class SubscriptionRegistry<Session> {
  private readonly byUri = new Map<string, Set<Session>>();

  /** Adds a subscriber; true when it is the URI's first (the child must be told). */
  add(session: Session, uri: string): boolean {
    let sessions = this.byUri.get(uri);
    const first = !sessions;
    if (!sessions) {
      sessions = new Set();
      this.byUri.set(uri, sessions);
    }
    sessions.add(session);
    return first;
  }

  /** Removes a subscriber; true when it was the URI's last (the child must be told). */
  remove(session: Session, uri: string): boolean {
    const sessions = this.byUri.get(uri);
    if (!sessions?.delete(session)) return false;
    if (sessions.size > 0) return false;
    this.byUri.delete(uri);
    return true;
  }

  /** Forgets a session; returns the URIs nobody is subscribed to any more. */
  removeSession(session: Session): string[] {
    const emptied: string[] = [];
    for (const uri of [...this.byUri.keys()]) {
      if (this.remove(session, uri)) emptied.push(uri);
    }
    return emptied;
  }

  subscribers(uri: string): ReadonlySet<Session> {
    return this.byUri.get(uri) ?? new Set();
  }

  isSubscribed(session: Session, uri: string): boolean {
    return this.byUri.get(uri)?.has(session) ?? false;
  }

  uris(): string[] {
    return [...this.byUri.keys()];
  }

  get size(): number {
    return this.byUri.size;
  }
}
