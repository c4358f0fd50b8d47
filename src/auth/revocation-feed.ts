import type Database from 'better-sqlite3';
import type { Logger } from '../core/logger.js';
import { RevocationWatch } from './revocation-watch.js';
import { type Revocation, RevocationList } from './revocations.js';

/**
 * The `jti` deny list as the supervisor uses it, whatever the store: a
 * synchronous `has` on every request, the revocations of other processes
 * (or nodes) announced to whoever keeps connections open, and the writes
 * and listing of `mcp-tenants revoke`.
 */
export interface RevocationFeed {
  /** Asked on every request, cached verification or not: synchronous and cheap. */
  has(jti: string): boolean;
  /** Calls `listener` with each jti revoked from now on, by any process sharing the store. */
  onRevoked(listener: (jti: string) => void): () => void;
  /** False when the jti was revoked already. `expiresAt`: when the token expires anyway (epoch ms). */
  revoke(jti: string, reason?: string, expiresAt?: number): Promise<boolean>;
  list(): Promise<Revocation[]>;
  /** Resolves once `has` answers from the whole list (at once for SQLite). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded store's feed: `has` reads the table (one primary-key read),
 * and a watch polls it for revocations made by other processes.
 */
export class SqliteRevocationFeed implements RevocationFeed {
  private readonly entries: RevocationList;
  private readonly watch: RevocationWatch;

  constructor(db: Database.Database, log: Logger) {
    this.entries = new RevocationList(db);
    this.watch = new RevocationWatch(this.entries, log);
  }

  has(jti: string): boolean {
    return this.entries.has(jti);
  }

  onRevoked(listener: (jti: string) => void): () => void {
    return this.watch.onRevoked(listener);
  }

  revoke(jti: string, reason?: string, expiresAt?: number): Promise<boolean> {
    return Promise.resolve(this.entries.revoke(jti, reason, expiresAt));
  }

  list(): Promise<Revocation[]> {
    return Promise.resolve(this.entries.list());
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.watch.close();
    return Promise.resolve();
  }
}
