import type Database from 'better-sqlite3';
import pg from 'pg';
import type { Logger } from '../core/logger.js';
import { PostgresStore, type Queryable } from '../store/postgres.js';
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

/** Where the record goes: written at once (SQLite), or behind the request (PostgreSQL). */
interface OverCapSink {
  save(row: OverCapRow): void;
  clear(tenant: string, kind: CappedKind): void;
  close(): Promise<void>;
}

/**
 * Tenants whose server lists more tools or resources than `max_tools` /
 * `max_resources` allow: logged once per size, and kept in the supervisor's
 * store (the SQLite database, or PostgreSQL's `mcp_quota_over_cap`), where
 * `mcp-tenants doctor` finds them. A complete listing within the cap clears
 * the entry.
 */
export class OverCapRecorder {
  /** Per tenant and kind: the size last recorded, 0 once known to be within the cap. */
  private readonly logged = new Map<string, number>();
  private readonly sink: OverCapSink;

  constructor(
    store: Database.Database | PostgresStore,
    private readonly log: Logger,
  ) {
    this.sink =
      store instanceof PostgresStore ? new PgOverCapWriter(store, log) : new SqliteOverCap(store);
  }

  /**
   * A listing reached its end or the cap: the child lists `listed` items
   * (`exact`), or at least that many (it had further pages), against `cap`.
   */
  listed(tenantId: string, kind: CappedKind, listed: number, cap: number, exact: boolean): void {
    const key = `${tenantId}\u0000${kind}`;
    if (listed <= cap) {
      // Once per process: an entry may be left from an earlier run.
      if (this.logged.get(key) !== 0) this.sink.clear(tenantId, kind);
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
    this.sink.save({ tenant: tenantId, kind, listed, cap, seen_at: Date.now() });
  }

  /** Writes what is still pending (PostgreSQL); call before the store closes. */
  close(): Promise<void> {
    return this.sink.close();
  }
}

class SqliteOverCap implements OverCapSink {
  private readonly upsert: Database.Statement<[string, string, number, number, number]>;
  private readonly remove: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    db.exec(SCHEMA);
    this.upsert = db.prepare(
      `INSERT INTO policy_over_cap (tenant, kind, listed, cap, seen_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant, kind) DO UPDATE SET
         listed = excluded.listed, cap = excluded.cap, seen_at = excluded.seen_at`,
    );
    this.remove = db.prepare('DELETE FROM policy_over_cap WHERE tenant = ? AND kind = ?');
  }

  save(row: OverCapRow): void {
    this.upsert.run(row.tenant, row.kind, row.listed, row.cap, row.seen_at);
  }

  clear(tenant: string, kind: CappedKind): void {
    this.remove.run(tenant, kind);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

type PendingWrite = { row: OverCapRow } | { clear: { tenant: string; kind: CappedKind } };

const RETRY_MS = 5_000;
const CLOSE_WAIT_MS = 2_000;

/**
 * Write-behind: a listing never waits for (or fails with) the database. The
 * latest state per tenant and kind is written in the background; a failed
 * write is retried later unless a newer one replaced it.
 */
class PgOverCapWriter implements OverCapSink {
  private readonly pending = new Map<string, PendingWrite>();
  private writing: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private lastFailureLog = 0;
  private closed = false;

  constructor(
    private readonly pg: PostgresStore,
    private readonly log: Logger,
  ) {}

  save(row: OverCapRow): void {
    this.queue(`${row.tenant}\u0000${row.kind}`, { row });
  }

  clear(tenant: string, kind: CappedKind): void {
    this.queue(`${tenant}\u0000${kind}`, { clear: { tenant, kind } });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    if (this.pending.size > 0 && !this.writing) this.writing = this.drain();
    if (!this.writing) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.writing,
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  private queue(key: string, write: PendingWrite): void {
    this.pending.set(key, write);
    if (!this.writing && !this.retry && !this.closed) this.writing = this.drain();
  }

  /** Never rejects. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending];
        this.pending.clear();
        for (const [index, [key, write]] of batch.entries()) {
          try {
            await this.write(write);
          } catch (error) {
            // Put back what was not written, unless something newer came meanwhile.
            for (const [laterKey, laterWrite] of batch.slice(index)) {
              if (!this.pending.has(laterKey)) this.pending.set(laterKey, laterWrite);
            }
            this.reportFailure(error, key);
            if (!this.closed) {
              this.retry = setTimeout(() => {
                this.retry = undefined;
                if (!this.writing) this.writing = this.drain();
              }, RETRY_MS);
              this.retry.unref();
            }
            return;
          }
        }
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async write(write: PendingWrite): Promise<void> {
    if ('clear' in write) {
      await this.pg.query('DELETE FROM mcp_quota_over_cap WHERE tenant = $1 AND kind = $2', [
        write.clear.tenant,
        write.clear.kind,
      ]);
      return;
    }
    const { tenant, kind, listed, cap, seen_at } = write.row;
    await this.pg.query(
      `INSERT INTO mcp_quota_over_cap (tenant, kind, listed, cap, seen_at)
       VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000))
       ON CONFLICT (tenant, kind) DO UPDATE SET
         listed = excluded.listed, cap = excluded.cap, seen_at = excluded.seen_at`,
      [tenant, kind, listed, cap, seen_at],
    );
  }

  private reportFailure(error: unknown, key: string): void {
    const now = Date.now();
    if (now - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = now;
    this.log.warn('could not record an over-cap listing in the PostgreSQL store; retrying', {
      tenant: key.split('\u0000')[0],
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** For `doctor`: every recorded over-cap listing. */
export function readOverCap(db: Database.Database): OverCapRow[] {
  if (!hasTable(db, 'policy_over_cap')) return [];
  return db
    .prepare<[], OverCapRow>('SELECT tenant, kind, listed, cap, seen_at FROM policy_over_cap')
    .all();
}

/** For `doctor` with a PostgreSQL store: every recorded over-cap listing. */
export async function readOverCapFrom(store: Queryable): Promise<OverCapRow[]> {
  const result = await store.query<{
    tenant: string;
    kind: CappedKind;
    listed: number;
    cap: number;
    seen_at: string;
  }>(
    `SELECT tenant, kind, listed, cap, floor(extract(epoch FROM seen_at) * 1000)::bigint AS seen_at
       FROM mcp_quota_over_cap ORDER BY tenant, kind`,
  );
  return result.rows.map((row) => ({ ...row, seen_at: Number(row.seen_at) }));
}

/**
 * `readOverCapFrom` over a connection of its own, for a command that has no
 * store open; empty when the table does not exist yet (no node has started).
 */
export async function readOverCapAt(url: string, timeoutMs = 3_000): Promise<OverCapRow[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    return await readOverCapFrom(client);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === '42P01') return [];
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
