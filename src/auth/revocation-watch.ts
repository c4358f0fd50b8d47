import type { Logger } from '../core/logger.js';

/** How often the deny list is read for new entries: a revocation reaches open sessions within this. */
export const REVOCATION_POLL_MS = 1_000;

export interface RevocationSource {
  revokedSince(since: number): readonly { jti: string; revoked_at: number }[];
}

/**
 * Tells open connections that a token was revoked. Requests already check the
 * deny list themselves; this is for what stays open without a request: GET
 * streams, listen streams, a stdio connection, sessions between requests.
 * `mcp-tenants revoke` is another process, so the list is polled (an indexed
 * range read); a clock step back by a few seconds is covered by re-reading
 * an overlap and remembering what was already announced.
 */
export class RevocationWatch {
  private readonly listeners = new Set<(jti: string) => void>();
  private readonly announced = new Map<string, number>();
  private since: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly source: RevocationSource,
    private readonly log: Logger,
    intervalMs = REVOCATION_POLL_MS,
    now = Date.now(),
  ) {
    this.since = now;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Calls `listener` with each newly revoked jti; returns the unsubscribe. */
  onRevoked(listener: (jti: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  poll(): void {
    let rows: readonly { jti: string; revoked_at: number }[];
    try {
      rows = this.source.revokedSince(this.since - OVERLAP_MS);
    } catch (error) {
      this.log.warn('could not read the revocation list; retrying', { error: String(error) });
      return;
    }
    for (const row of rows) {
      if (this.announced.has(row.jti)) continue;
      this.announced.set(row.jti, row.revoked_at);
      this.since = Math.max(this.since, row.revoked_at);
      for (const listener of this.listeners) {
        try {
          listener(row.jti);
        } catch (error) {
          this.log.error('closing a revoked connection failed', { error: String(error) });
        }
      }
    }
    // Only entries inside the overlap can be read again.
    for (const [jti, at] of this.announced) {
      if (at < this.since - OVERLAP_MS) this.announced.delete(jti);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }
}

const OVERLAP_MS = 5_000;
