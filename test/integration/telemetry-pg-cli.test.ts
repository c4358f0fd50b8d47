import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { TELEMETRY_MIGRATIONS } from '../../src/telemetry/pg-migrations.js';
import { pgRows } from '../../src/telemetry/pg-rows.js';
import { PgTelemetryStore } from '../../src/telemetry/pg-telemetry-store.js';
import type { AuditEntry, RequestRecord } from '../../src/telemetry/records.js';
import type { Report } from '../../src/telemetry/report-lines.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { createWorkspace, runCli, type TestWorkspace } from '../helpers/serve-process.js';

/** 2025-06-01T00:00:00Z; the commands read the day after it. */
const T0 = Date.UTC(2025, 5, 1);
const WINDOW = ['--since', '2025-06-01', '--until', '2025-06-02'];

function request(
  i: number,
  tenant: string,
  user: string,
  outcome: 'ok' | 'tool_error' | 'permission',
): RequestRecord {
  return {
    ...{ kind: 'request', ts: T0 + 60_000 + i, tenant, user, method: 'tools/call' },
    ...{ name: outcome === 'tool_error' ? 'data_get' : 'data_set', outcome, errorCode: null },
    ...{ latencyUs: 1_000 + i, traceId: null, requestBytes: 10, responseBytes: 20 },
  };
}

function audit(i: number, tenant: string): AuditEntry {
  return {
    ...{ kind: 'audit', ts: T0 + 60_000 + i, tenant, actor: `user${i % 2}`, action: 'tools/call' },
    ...{ target: `t${i}`, outcome: 'ok', detail: null },
  };
}

/**
 * `report`, `audit` and `audit verify` against a manifest whose store is
 * PostgreSQL: they read what two nodes wrote there, not a local folder.
 */
describe.skipIf(postgresSkipReason !== undefined)('report and audit on a PostgreSQL store', () => {
  let postgres: TestPostgres;
  let url: string;
  let workspace: TestWorkspace;
  const stores: PostgresStore[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
    url = await postgres.createDatabase('cli');
    for (let node = 0; node < 2; node++) {
      stores.push(
        await PostgresStore.open(url, { log: silentLogger, applicationName: `node ${node}` }),
      );
    }
    await migrate(stores[0] as PostgresStore, TELEMETRY_MIGRATIONS);
    // Node 0: acme's successes; node 1: acme's tool errors and globex's refusals. Both audit.
    const [one, two] = stores.map((store) => new PgTelemetryStore(store));
    await Promise.all([
      one?.write(
        [
          ...Array.from({ length: 30 }, (_, i) => request(i, 'acme', 'alice', 'ok')),
          ...Array.from({ length: 20 }, (_, i) => audit(i, 'acme')),
        ],
        [],
      ),
      two?.write(
        [
          ...Array.from({ length: 10 }, (_, i) => request(i, 'acme', 'bob', 'tool_error')),
          ...Array.from({ length: 5 }, (_, i) => request(i, 'globex', 'carol', 'permission')),
          ...Array.from({ length: 20 }, (_, i) => audit(100 + i, 'acme')),
          ...Array.from({ length: 5 }, (_, i) => audit(i, 'globex')),
        ],
        [],
      ),
    ]);
    workspace = createWorkspace({ acme: {}, globex: {} }, { store: url });
  }, 60_000);

  afterAll(async () => {
    for (const store of stores) await store.close();
    workspace?.cleanup();
    postgres?.stop();
  });

  it('reports what every node wrote', () => {
    const run = runCli(['report', '-m', workspace.manifestPath, ...WINDOW, '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.since).toBe('2025-06-01T00:00:00.000Z');
    const [acme, globex] = report.tenants;
    expect(acme).toMatchObject({
      tenant: 'acme',
      requests: 40,
      tool_calls: 40,
      users: 2,
      errors: { total: 10, tool_error: 10 },
      request_bytes: 400,
      response_bytes: 800,
      storage_mb: null,
      top_tools: [
        { name: 'data_set', calls: 30, errors: 0 },
        { name: 'data_get', calls: 10, errors: 10 },
      ],
    });
    expect(acme?.latency_ms.p50).toBeCloseTo(1.014, 2);
    expect(globex).toMatchObject({ tenant: 'globex', requests: 5, errors: { permission: 5 } });

    const table = runCli(['report', '-m', workspace.manifestPath, ...WINDOW, '--tenant', 'globex']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^globex\s+5\s+5\s+5\s+1\s/m);
    expect(table.stdout).not.toMatch(/^acme/m);
  });

  it('lists the audit trail and verifies its chains', async () => {
    const listed = runCli([
      ...['audit', '-m', workspace.manifestPath, ...WINDOW, '--tenant', 'acme'],
      ...['--format', 'json'],
    ]);
    expect(listed.code).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { rows: { seq: number; user: string }[] }).rows;
    expect(rows).toHaveLength(40);
    expect(rows.map((row) => row.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const limited = runCli([
      ...['audit', '-m', workspace.manifestPath, ...WINDOW, '--user', 'user1', '--limit', '3'],
      ...['--format', 'json'],
    ]);
    expect((JSON.parse(limited.stdout) as { rows: { user: string }[] }).rows).toEqual(
      Array(3).fill(expect.objectContaining({ user: 'user1' })),
    );

    const heads = await pgRows<{ tenant: string; seq: number; hash: string }>(
      (stores[0] as PostgresStore).pool,
      'SELECT tenant, seq, hash FROM audit_heads ORDER BY tenant',
    );
    const verified = runCli(['audit', 'verify', '-m', workspace.manifestPath]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe(
      heads
        .map(
          (head) =>
            `${head.tenant}: ${head.seq} rows, ok, head ${head.seq} ${head.hash.slice(0, 16)}\n`,
        )
        .join(''),
    );
    expect(heads.map((head) => [head.tenant, head.seq])).toEqual([
      ['acme', 40],
      ['globex', 5],
    ]);
  });

  it('exits 8 naming the row once a row in PostgreSQL is modified', async () => {
    const store = stores[1] as PostgresStore;
    const where = "WHERE tenant = 'globex' AND seq = 3";
    const [original] = await pgRows<{ actor: string }>(
      store.pool,
      `SELECT actor FROM audit_log ${where}`,
    );
    await store.query(`UPDATE audit_log SET actor = 'mallory' ${where}`);
    try {
      const verified = runCli(['audit', 'verify', '-m', workspace.manifestPath, '--json']);
      expect(verified.code).toBe(8);
      const chains = (
        JSON.parse(verified.stdout) as {
          chains: { tenant: string; ok: boolean; problems: { seq: number }[] }[];
        }
      ).chains;
      expect(chains.map((chain) => [chain.tenant, chain.ok])).toEqual([
        ['acme', true],
        ['globex', false],
      ]);
      expect(chains[1]?.problems.map((problem) => problem.seq)).toEqual([3]);
      expect(verified.stderr).toMatch(/the audit trail of globex fails verification/);
    } finally {
      await store.query(`UPDATE audit_log SET actor = $1 ${where}`, [original?.actor]);
    }
    // Put back as it was, the chain verifies again.
    expect(runCli(['audit', 'verify', '-m', workspace.manifestPath]).code).toBe(0);
  });

  it('says the store is unreachable, without its password, when it cannot log in', () => {
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    const elsewhere = createWorkspace({ acme: {} }, { store: wrong.toString() });
    try {
      const run = runCli(['report', '-m', elsewhere.manifestPath, '--format', 'json']);
      expect(run.code).toBe(9);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/the PostgreSQL store at 127\.0\.0\.1:\d+\/cli is unreachable/);
      expect(run.stderr).toMatch(/check server\.store/);
      expect(run.stderr).not.toContain('not-the-password');
    } finally {
      elsewhere.cleanup();
    }
  });

  it('still reads the embedded store, with its message when there is none yet', () => {
    const local = createWorkspace({ acme: {} });
    try {
      for (const command of [['report'], ['audit'], ['audit', 'verify']]) {
        const run = runCli([...command, '-m', local.manifestPath]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(/no telemetry yet: .*mcp-tenants\.db does not exist/);
      }
    } finally {
      local.cleanup();
    }
  });
});
