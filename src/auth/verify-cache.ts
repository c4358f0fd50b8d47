import type { TenantContext } from './context.js';

/** Tokens longer than this are verified every time, to bound cache memory. */
export const MAX_CACHED_TOKEN_LENGTH = 4096;

/**
 * Successful verifications, keyed by the exact token string. A Map keeps
 * insertion order, so re-inserting on a hit and deleting the first key on
 * overflow gives a cheap least-recently-used eviction (hits re-insert once
 * the cache is half full: before that, nothing is near eviction). Callers still check
 * `expiresAt` on every hit: being cached never extends a token's life.
 */
export class VerifyCache {
  private readonly entries = new Map<string, TenantContext>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string): TenantContext | undefined {
    const context = this.entries.get(token);
    // Recency matters only once eviction is near: below half full, a hit
    // skips the delete and re-insert it would otherwise pay on every request.
    if (context !== undefined && this.entries.size * 2 >= this.maxEntries) {
      this.entries.delete(token);
      this.entries.set(token, context);
    }
    return context;
  }

  set(token: string, context: TenantContext): void {
    if (this.maxEntries <= 0 || token.length > MAX_CACHED_TOKEN_LENGTH) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, context);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  clear(): void {
    this.entries.clear();
  }
}
