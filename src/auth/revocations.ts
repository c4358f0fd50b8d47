import type Database from 'better-sqlite3';

export interface Revocation {
  jti: string;
  /** Epoch milliseconds. */
  revoked_at: number;
  reason: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS auth_revoked_tokens (
  jti        TEXT PRIMARY KEY,
  revoked_at INTEGER NOT NULL,
  reason     TEXT
) WITHOUT ROWID`;

/**
 * The `jti` deny list, in the supervisor's database so that `mcp-tenants
 * revoke` (another process) reaches every running supervisor. A lookup is
 * one primary-key read in WAL mode, cheap enough to make on every request;
 * nothing is cached, so a revocation counts from the next request on.
 */
export class RevocationList {
  private readonly lookup: Database.Statement<[string], { found: number }>;

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.lookup = db.prepare('SELECT 1 AS found FROM auth_revoked_tokens WHERE jti = ?');
  }

  has(jti: string): boolean {
    return this.lookup.get(jti) !== undefined;
  }

  /** Returns false when the jti was already revoked. */
  revoke(jti: string, reason: string | undefined, now = Date.now()): boolean {
    const result = this.db
      .prepare(
        'INSERT INTO auth_revoked_tokens (jti, revoked_at, reason) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING',
      )
      .run(jti, now, reason ?? null);
    return result.changes > 0;
  }

  list(): Revocation[] {
    return this.db
      .prepare<[], Revocation>(
        'SELECT jti, revoked_at, reason FROM auth_revoked_tokens ORDER BY revoked_at, jti',
      )
      .all();
  }
}
