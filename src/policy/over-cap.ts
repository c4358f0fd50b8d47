import type Database from 'better-sqlite3';
import type { Logger } from '../core/logger.js';
import { hasTable } from '../store/sqlite.js';
import type { CappedKind } from './listing-catalog.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS policy_over_cap (
  tenant  TEXT NOT NULL,
  kind    TEXT NOT NULL,
  listed  INTEGER NOT NULL,
  cap     INTEGER NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, kind)
) WITHOUT ROWID`;

export interface OverCapRow {
  tenant: string;
  kind: CappedKind;
  listed: number;
  cap: number;
  seen_at: number;
}

/**
 * Tenants whose server lists more tools or resources than `max_tools` /
 * `max_resources` allow: logged once per size, and kept in the supervisor's
 * database, where `mcp-tenants doctor` finds them. A complete listing within
 * the cap clears the entry.
 */
export class OverCapRecorder {
  /** Per tenant and kind: the size last recorded, 0 once known to be within the cap. */
  private readonly logged = new Map<string, number>();
  private readonly upsert: Database.Statement<[string, string, number, number, number]>;
  private readonly clear: Database.Statement<[string, string]>;

  constructor(
    db: Database.Database,
    private readonly log: Logger,
  ) {
    db.exec(SCHEMA);
    this.upsert = db.prepare(
      `INSERT INTO policy_over_cap (tenant, kind, listed, cap, seen_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant, kind) DO UPDATE SET
         listed = excluded.listed, cap = excluded.cap, seen_at = excluded.seen_at`,
    );
    this.clear = db.prepare('DELETE FROM policy_over_cap WHERE tenant = ? AND kind = ?');
  }

  /**
   * A listing reached its end or the cap: the child lists `listed` items
   * (`exact`), or at least that many (it had further pages), against `cap`.
   */
  listed(tenantId: string, kind: CappedKind, listed: number, cap: number, exact: boolean): void {
    const key = `${tenantId}\u0000${kind}`;
    if (listed <= cap) {
      // Once per process: an entry may be left from an earlier run.
      if (this.logged.get(key) !== 0) this.clear.run(tenantId, kind);
      this.logged.set(key, 0);
      return;
    }
    if (this.logged.get(key) === listed) return;
    this.logged.set(key, listed);
    const quota = kind === 'tools' ? 'max_tools' : 'max_resources';
    this.log.warn(
      `the tenant's server lists ${exact ? '' : 'at least '}${listed} ${kind}, over ${quota} (${cap}); only the first ${cap} in its own order are shown and callable`,
      { tenant: tenantId },
    );
    this.upsert.run(tenantId, kind, listed, cap, Date.now());
  }
}

/** For `doctor`: every recorded over-cap listing. */
export function readOverCap(db: Database.Database): OverCapRow[] {
  if (!hasTable(db, 'policy_over_cap')) return [];
  return db
    .prepare<[], OverCapRow>('SELECT tenant, kind, listed, cap, seen_at FROM policy_over_cap')
    .all();
}
