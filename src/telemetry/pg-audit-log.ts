import type pg from 'pg';
import type { PostgresStore } from '../store/postgres.js';
import {
  type AuditFilter,
  type AuditRow,
  type ChainReport,
  chainReport,
  nextRow,
} from './audit-log.js';
import { type ChainedRow, ChainVerifier, GENESIS_HASH } from './hash-chain.js';
import { pgCursor, pgInt, pgRows, pgSnapshot, pgText } from './pg-rows.js';
import type { AuditEntry } from './records.js';
import { countRowsAsync, type RowProgress } from './row-progress.js';

interface Head {
  tenant: string;
  seq: number;
  hash: string;
}

/**
 * Appends entries to their chains in PostgreSQL; call inside the writer's
 * transaction. Nodes append to the same chains at once, so each touched
 * chain's head row is locked before its next seq and prev_hash are taken:
 * one upsert (ON CONFLICT DO UPDATE locks an existing row as FOR UPDATE
 * would, and a new one is inserted locked) over the tenants in sorted
 * order, so two writers always lock in the same order and never deadlock.
 * The hash covers the same fields as SQLite's, so `verifyChain` is shared.
 */
export async function appendAuditPg(
  client: pg.PoolClient,
  entries: readonly AuditEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  const clean = entries.map((entry) => ({
    ...entry,
    ts: pgInt(entry.ts),
    tenant: pgText(entry.tenant),
    actor: pgText(entry.actor),
    action: pgText(entry.action),
    target: pgText(entry.target),
    outcome: pgText(entry.outcome),
  }));
  const tenants = [...new Set(clean.map((entry) => entry.tenant))].sort();
  const locked = await pgRows<Head>(
    client,
    `INSERT INTO audit_heads AS h (tenant, seq, hash)
     SELECT t.tenant, 0, $2 FROM unnest($1::text[]) WITH ORDINALITY AS t (tenant, n) ORDER BY t.n
     ON CONFLICT (tenant) DO UPDATE SET seq = h.seq
     RETURNING h.tenant, h.seq, h.hash`,
    [tenants, GENESIS_HASH],
  );
  const heads = new Map(locked.map((head) => [head.tenant, { seq: head.seq, hash: head.hash }]));
  const rows: ChainedRow[] = [];
  for (const entry of clean) {
    const head = heads.get(entry.tenant) ?? { seq: 0, hash: GENESIS_HASH };
    const row = nextRow(head, entry);
    rows.push(row);
    heads.set(entry.tenant, { seq: row.seq, hash: row.hash });
  }
  const column = <K extends keyof ChainedRow>(key: K) => rows.map((row) => row[key]);
  await client.query(
    `INSERT INTO audit_log (tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
       $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])`,
    [
      ...[column('tenant'), column('seq'), column('ts'), column('actor'), column('action')],
      ...[column('target'), column('outcome'), column('detail'), column('prev_hash')],
      column('hash'),
    ],
  );
  const moved = [...heads];
  await client.query(
    `UPDATE audit_heads AS h SET seq = v.seq, hash = v.hash
     FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v (tenant, seq, hash)
     WHERE h.tenant = v.tenant`,
    [moved.map(([tenant]) => tenant), moved.map(([, h]) => h.seq), moved.map(([, h]) => h.hash)],
  );
}

const AUDIT_COLUMNS =
  'id, tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash';

/** Rows of the trail, oldest first, newest `limit` of them (as `queryAudit`). */
export async function queryAuditPg(store: PostgresStore, filter: AuditFilter): Promise<AuditRow[]> {
  const values: unknown[] = [filter.since, filter.until];
  const where = ['ts >= $1', 'ts < $2'];
  const match = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    values.push(value);
    where.push(`${column} = $${values.length}`);
  };
  match('tenant', filter.tenant);
  match('actor', filter.user);
  match('action', filter.action);
  values.push(filter.limit);
  try {
    const rows = await pgRows<AuditRow>(
      store.pool,
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE ${where.join(' AND ')}
       ORDER BY ts DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    return rows.reverse();
  } catch (error) {
    throw store.explain(error);
  }
}

/**
 * Verifies every chain (or one tenant's), walking rows in seq order through
 * a cursor, in one read-only snapshot: heads and rows from the same moment
 * while other nodes keep appending.
 */
export function verifyAuditPg(
  store: PostgresStore,
  tenant?: string,
  progress?: RowProgress,
): Promise<ChainReport[]> {
  return pgSnapshot(store, async (client) => {
    const heads = new Map(
      (await pgRows<Head>(client, 'SELECT tenant, seq, hash FROM audit_heads')).map((row) => [
        row.tenant,
        { seq: row.seq, hash: row.hash },
      ]),
    );
    const inLog = await pgRows<{ tenant: string }>(client, 'SELECT DISTINCT tenant FROM audit_log');
    const tenants = [...new Set([...heads.keys(), ...inLog.map((row) => row.tenant)])]
      .filter((id) => tenant === undefined || id === tenant)
      .sort();
    const reports: ChainReport[] = [];
    for (const id of tenants) {
      const verifier = new ChainVerifier();
      const rows = pgCursor<ChainedRow>(
        client,
        `SELECT tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash
         FROM audit_log WHERE tenant = $1 ORDER BY seq`,
        [id],
      );
      for await (const row of countRowsAsync(rows, `verifying ${id}`, progress)) verifier.add(row);
      const head = heads.get(id);
      reports.push(chainReport(id, verifier.finish(head), head));
    }
    return reports;
  });
}
