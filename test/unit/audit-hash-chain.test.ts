import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditAppender, queryAudit, verifyAudit } from '../../src/telemetry/audit-log.js';
import {
  type ChainedRow,
  chainHash,
  GENESIS_HASH,
  verifyChain,
} from '../../src/telemetry/hash-chain.js';
import type { AuditEntry } from '../../src/telemetry/records.js';
import { ensureTelemetrySchema } from '../../src/telemetry/schema.js';

function entry(tenant: string, ts: number, action = 'tools/call'): AuditEntry {
  return {
    kind: 'audit',
    ts,
    tenant,
    actor: 'alice',
    action,
    target: 'data_get',
    outcome: 'ok',
    detail: { jti: 'j1' },
  };
}

function chain(length: number): ChainedRow[] {
  const rows: ChainedRow[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= length; seq++) {
    const fields = {
      tenant: 'acme',
      seq,
      ts: 1000 + seq,
      actor: 'alice',
      action: 'tools/call',
      target: `t${seq}`,
      outcome: 'ok',
      detail: null,
    };
    const hash = chainHash(prev, fields);
    rows.push({ ...fields, prev_hash: prev, hash });
    prev = hash;
  }
  return rows;
}

describe('the audit hash chain', () => {
  it('accepts an intact chain that reaches its head', () => {
    const rows = chain(5);
    const head = { seq: 5, hash: (rows[4] as ChainedRow).hash };
    expect(verifyChain(rows, head)).toEqual({ rows: 5, problems: [], last: head });
  });

  it('finds a modified row by its own hash', () => {
    const rows = chain(4);
    (rows[1] as ChainedRow).outcome = 'tool_error';
    const { problems } = verifyChain(rows, { seq: 4, hash: (rows[3] as ChainedRow).hash });
    expect(problems).toEqual([{ seq: 2, problem: expect.stringContaining('was modified') }]);
  });

  it('finds a row whose hash was recomputed by the next row’s broken link', () => {
    const rows = chain(4);
    const row = rows[1] as ChainedRow;
    row.target = 'changed';
    row.hash = chainHash(row.prev_hash, row);
    const { problems } = verifyChain(rows, { seq: 4, hash: (rows[3] as ChainedRow).hash });
    expect(problems).toEqual([{ seq: 3, problem: expect.stringContaining('does not link') }]);
  });

  it('finds a deleted row by the gap, and deleted last rows by the head', () => {
    const rows = chain(5);
    const head = { seq: 5, hash: (rows[4] as ChainedRow).hash };
    const gap = verifyChain([rows[0], rows[1], rows[3], rows[4]] as ChainedRow[], head);
    expect(gap.problems).toEqual([{ seq: 4, problem: 'row 3 is missing (deleted)' }]);
    const first = verifyChain(rows.slice(1), head);
    expect(first.problems[0]?.problem).toBe('row 1 is missing (deleted)');
    const tail = verifyChain(rows.slice(0, 3), head);
    expect(tail.problems).toEqual([
      { seq: 5, problem: 'the chain ends at 3 but 5 rows were written (last rows deleted)' },
    ]);
  });

  it('changes the hash when any covered field changes', () => {
    const base = chain(1)[0] as ChainedRow;
    const hashes = new Set(
      (['tenant', 'actor', 'action', 'target', 'outcome', 'detail'] as const).map((field) =>
        chainHash(GENESIS_HASH, { ...base, [field]: 'x' }),
      ),
    );
    hashes.add(chainHash(GENESIS_HASH, { ...base, ts: 1 }));
    hashes.add(chainHash(GENESIS_HASH, { ...base, seq: 9 }));
    hashes.add(base.hash);
    expect(hashes.size).toBe(9);
  });
});

describe('the audit trail in SQLite', () => {
  let db: Database.Database;
  afterEach(() => db?.close());

  it('chains each tenant separately, across batches, and verifies until a row is tampered with', () => {
    db = new Database(':memory:');
    ensureTelemetrySchema(db);
    const appender = new AuditAppender(db);
    db.transaction(() =>
      appender.append([entry('acme', 1), entry('globex', 2), entry('acme', 3)]),
    )();
    db.transaction(() => appender.append([entry('acme', 4, 'prompts/get')]))();

    const rows = queryAudit(db, { since: 0, until: 10, limit: 100 });
    expect(rows.map((row) => [row.tenant, row.seq])).toEqual([
      ['acme', 1],
      ['globex', 1],
      ['acme', 2],
      ['acme', 3],
    ]);
    expect(queryAudit(db, { since: 0, until: 10, limit: 100, action: 'prompts/get' })).toHaveLength(
      1,
    );
    expect(verifyAudit(db).map((chain) => [chain.tenant, chain.rows, chain.ok])).toEqual([
      ['acme', 3, true],
      ['globex', 1, true],
    ]);

    db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE tenant = 'acme' AND seq = 2").run();
    const [acme, globex] = verifyAudit(db);
    expect(acme?.ok).toBe(false);
    expect(acme?.problems[0]).toEqual({ seq: 2, problem: expect.stringContaining('modified') });
    expect(globex?.ok).toBe(true);
  });

  it('notices a deleted last row through the recorded head', () => {
    db = new Database(':memory:');
    ensureTelemetrySchema(db);
    const appender = new AuditAppender(db);
    db.transaction(() => appender.append([entry('acme', 1), entry('acme', 2)]))();
    db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    expect(verifyAudit(db, 'acme')[0]?.problems[0]?.problem).toContain('last rows deleted');
  });
});
