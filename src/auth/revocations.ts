import type Database from 'better-sqlite3';

export interface Revocation {
  jti: string;
  /** Epoch milliseconds. */
  revoked_at: number;
  reason: string | null;
  /** When the revoked token expires anyway (epoch ms); null when unknown (revoked by jti alone). */
  expires_at: number | null;
}

/** Kept this long after the token's own expiry, for clock skew between hosts. */
const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS auth_revoked_tokens (
  jti        TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL,
  reason     TEXT,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS auth_revoked_tokens_by_time ON auth_revoked_tokens (revoked_at)`;

/**
 * The `jti` deny list, in the supervisor's database so that `mcp-tenants
 * revoke` (another process) reaches every running supervisor. A lookup is
 * one primary-key read in WAL mode, cheap enough to make on every request;
 * nothing is cached, so a revocation counts from the next request on.
 * An entry whose token has expired anyway is pruned a day later (at the
 * next `revoke`); one revoked by jti alone, expiry unknown, is kept.
 */
export class RevocationList {
  private readonly lookup: Database.Statement<[string], { found: number }>;
  private readonly newer: Database.Statement<[number], { jti: string; revoked_at: number }>;

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    // Databases from before expires_at existed.
    const columns = db
      .prepare<[], { name: string }>('PRAGMA table_info(auth_revoked_tokens)')
      .all();
    if (!columns.some((column) => column.name === 'expires_at')) {
      db.exec('ALTER TABLE auth_revoked_tokens ADD COLUMN expires_at INTEGER');
    }
    this.lookup = db.prepare('SELECT 1 AS found FROM auth_revoked_tokens WHERE jti = ?');
    this.newer = db.prepare(
      'SELECT jti, revoked_at FROM auth_revoked_tokens WHERE revoked_at >= ? ORDER BY revoked_at',
    );
  }

  /** Revocations made at or after `since` (epoch ms), oldest first. */
  revokedSince(since: number): { jti: string; revoked_at: number }[] {
    return this.newer.all(since);
  }

  has(jti: string): boolean {
    return this.lookup.get(jti) !== undefined;
  }

  /** Returns false when the jti was already revoked. Prunes entries long expired. */
  revoke(
    jti: string,
    reason: string | undefined,
    expiresAt: number | undefined = undefined,
    now = Date.now(),
  ): boolean {
    this.db
      .prepare('DELETE FROM auth_revoked_tokens WHERE expires_at IS NOT NULL AND expires_at < ?')
      .run(now - KEEP_AFTER_EXPIRY_MS);
    const result = this.db
      .prepare(
        'INSERT INTO auth_revoked_tokens (jti, revoked_at, reason, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING',
      )
      .run(jti, now, reason ?? null, expiresAt ?? null);
    return result.changes > 0;
  }

  list(): Revocation[] {
    return this.db
      .prepare<[], Revocation>(
        'SELECT jti, revoked_at, reason, expires_at FROM auth_revoked_tokens ORDER BY revoked_at, jti',
      )
      .all();
  }
}
