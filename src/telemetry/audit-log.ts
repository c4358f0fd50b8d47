import type Database from 'better-sqlite3';
import { hasTable } from '../store/sqlite.js';
import { type ChainedRow, chainHash, GENESIS_HASH, verifyChain } from './hash-chain.js';
import type { AuditEntry } from './records.js';
import { countRows, type RowProgress } from './row-progress.js';

/**
 * The audit trail: append-only rows, each chained by hash to the previous
 * row of the same tenant; `audit_heads` holds every chain's last seq and
 * hash. Appends run inside the writer's transaction (BEGIN IMMEDIATE), so
 * several supervisors sharing the database extend each chain in turn.
 */
export class AuditAppender {
  private readonly head: Database.Statement<[string], { seq: number; hash: string }>;
  private readonly insert: Database.Statement;
  private readonly setHead: Database.Statement;

  constructor(db: Database.Database) {
    this.head = db.prepare('SELECT seq, hash FROM audit_heads WHERE tenant = ?');
    this.insert = db.prepare(
      `INSERT INTO audit_log (tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash)
       VALUES (@tenant, @seq, @ts, @actor, @action, @target, @outcome, @detail, @prev_hash, @hash)`,
    );
    this.setHead = db.prepare(
      `INSERT INTO audit_heads (tenant, seq, hash) VALUES (?, ?, ?)
       ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
    );
  }

  /** Appends entries; call inside a transaction. */
  append(entries: readonly AuditEntry[]): void {
    const heads = new Map<string, { seq: number; hash: string }>();
    for (const entry of entries) {
      const head = heads.get(entry.tenant) ??
        this.head.get(entry.tenant) ?? { seq: 0, hash: GENESIS_HASH };
      const row = nextRow(head, entry);
      // Bound by name: the row's fields are the columns.
      this.insert.run(row);
      heads.set(entry.tenant, { seq: row.seq, hash: row.hash });
    }
    for (const [tenant, head] of heads) this.setHead.run(tenant, head.seq, head.hash);
  }
}

/**
 * An entry as the row after `head` in its chain: the fields exactly as
 * stored, and their hash. Throws when the detail cannot be serialised.
 */
export function nextRow(head: { seq: number; hash: string }, entry: AuditEntry): ChainedRow {
  const fields = {
    tenant: entry.tenant,
    seq: head.seq + 1,
    ts: entry.ts,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    outcome: entry.outcome,
    detail: entry.detail === null ? null : JSON.stringify(entry.detail),
  };
  return { ...fields, prev_hash: head.hash, hash: chainHash(head.hash, fields) };
}

export interface AuditRow extends ChainedRow {
  id: number;
}

export interface AuditFilter {
  tenant?: string | undefined;
  user?: string | undefined;
  action?: string | undefined;
  since: number;
  until: number;
  limit: number;
}

/** Rows of the trail, oldest first, newest `limit` of them. */
export function queryAudit(db: Database.Database, filter: AuditFilter): AuditRow[] {
  if (!hasTable(db, 'audit_log')) return [];
  const where = ['ts >= @since', 'ts < @until'];
  if (filter.tenant !== undefined) where.push('tenant = @tenant');
  if (filter.user !== undefined) where.push('actor = @user');
  if (filter.action !== undefined) where.push('action = @action');
  const rows = db
    .prepare<Record<string, unknown>, AuditRow>(
      `SELECT * FROM audit_log WHERE ${where.join(' AND ')} ORDER BY ts DESC, id DESC LIMIT @limit`,
    )
    .all({ ...filter });
  return rows.reverse();
}

export interface ChainReport {
  tenant: string;
  rows: number;
  ok: boolean;
  /** Last seq and hash: keep them elsewhere to anchor the chain. */
  head: { seq: number; hash: string };
  problems: { seq: number; problem: string }[];
}

/** Verifies every chain (or one tenant's), walking rows in seq order. */
export function verifyAudit(
  db: Database.Database,
  tenant?: string,
  progress?: RowProgress,
): ChainReport[] {
  if (!hasTable(db, 'audit_log')) return [];
  const heads = new Map(
    db
      .prepare<[], { tenant: string; seq: number; hash: string }>(
        'SELECT tenant, seq, hash FROM audit_heads',
      )
      .all()
      .map((row) => [row.tenant, { seq: row.seq, hash: row.hash }]),
  );
  const inLog = db
    .prepare<[], { tenant: string }>('SELECT DISTINCT tenant FROM audit_log')
    .all()
    .map((row) => row.tenant);
  const tenants = [...new Set([...heads.keys(), ...inLog])]
    .filter((id) => tenant === undefined || id === tenant)
    .sort();
  const rowsOf = db.prepare<[string], ChainedRow>(
    'SELECT tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash FROM audit_log WHERE tenant = ? ORDER BY seq',
  );
  return tenants.map((id) => {
    const head = heads.get(id);
    const result = verifyChain(countRows(rowsOf.iterate(id), `verifying ${id}`, progress), head);
    return chainReport(id, result, head);
  });
}

/** What `audit verify` says of one chain, given what `verifyChain` found. */
export function chainReport(
  tenant: string,
  result: ReturnType<typeof verifyChain>,
  head: { seq: number; hash: string } | undefined,
): ChainReport {
  if (!head) {
    result.problems.push({
      seq: 0,
      problem: 'the chain has no recorded head (audit_heads row deleted)',
    });
  }
  return {
    tenant,
    rows: result.rows,
    ok: result.problems.length === 0,
    head: result.last,
    problems: result.problems,
  };
}
