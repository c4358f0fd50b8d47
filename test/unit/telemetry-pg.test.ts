import { createServer, type Server, Socket } from 'node:net';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import { Cancellation, type RelaySession, runStages } from '../../src/core/pipeline.js';
import { lockKey, migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { AuditAppender, verifyAudit } from '../../src/telemetry/audit-log.js';
import { type ChainedRow, verifyChain } from '../../src/telemetry/hash-chain.js';
import type { Outcome } from '../../src/telemetry/outcome.js';
import { queryAuditPg, verifyAuditPg } from '../../src/telemetry/pg-audit-log.js';
import { TELEMETRY_MIGRATIONS } from '../../src/telemetry/pg-migrations.js';
import { PgRetention } from '../../src/telemetry/pg-retention.js';
import { isPgStoreUnavailable, pgRows } from '../../src/telemetry/pg-rows.js';
import { PgTelemetryStore } from '../../src/telemetry/pg-telemetry-store.js';
import type {
  AuditEntry,
  ChildRecord,
  RequestRecord,
  TelemetryRecord,
  UsageDelta,
} from '../../src/telemetry/records.js';
import { buildReport, buildReportFromPostgres } from '../../src/telemetry/report.js';
import { DAY_MS, Retention } from '../../src/telemetry/retention.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { TelemetryStore } from '../../src/telemetry/telemetry-store.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { parsePrometheus, sumOf } from '../helpers/prometheus.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const HOUR = 3_600_000;
/** A fixed clock: 2025-06-01T00:00:00Z. */
const T0 = Date.UTC(2025, 5, 1);
const MIB = 1024 * 1024;

function request(
  ts: number,
  tenant: string,
  user: string,
  name: string,
  outcome: Outcome,
  latencyUs: number,
): RequestRecord {
  return {
    ...{ kind: 'request', ts, tenant, user, method: 'tools/call', name, outcome },
    ...{ errorCode: outcome === 'ok' || outcome === 'tool_error' ? null : -32603, latencyUs },
    ...{ traceId: null, requestBytes: 100, responseBytes: 50 },
  };
}

function child(ts: number, event: 'start' | 'exit', restart = false, crashed = false): ChildRecord {
  return {
    ...{ kind: 'child', ts, tenant: 'acme', pid: 7, event },
    ...{ startMs: event === 'start' ? 300 + ts - T0 : null, restart, crashed },
    ...{ limit: crashed ? 'memory' : null, reason: null },
  };
}

function usage(tenant: string, minute: number, cpuSeconds: number, rssMb: number): UsageDelta {
  const rssBytes = rssMb * MIB;
  return {
    ...{ tenant, pid: 7, minute, cpuSeconds, rssByteSeconds: rssBytes * 60, sampledSeconds: 60 },
    ...{ rssPeak: rssBytes, samples: 60, toolCalls: 2, toolErrors: 1, toolMs: 5 },
    ...{ dbBytes: 4096 * (1 + (minute - T0) / 60_000), dbRows: 3 },
  };
}

function audit(tenant: string, target: string, ts = T0): AuditEntry {
  return {
    ...{ kind: 'audit', ts, tenant, actor: 'alice', action: 'tools/call', target },
    ...{ outcome: 'ok', detail: { jti: 'j1', n: target } },
  };
}

const OUTCOMES: Outcome[] = ['ok', 'ok', 'ok', 'tool_error', 'timeout', 'permission', 'cancelled'];

/** Three hours of traffic for two tenants, with children's lives and usage. */
function seed(): { records: TelemetryRecord[]; usage: UsageDelta[] } {
  const records: TelemetryRecord[] = [];
  for (let i = 0; i < 180; i++) {
    records.push(
      request(
        T0 + i * 60_000,
        i % 3 === 0 ? 'globex' : 'acme',
        `user${i % 4}`,
        `t${i % 5}`,
        OUTCOMES[i % OUTCOMES.length] as Outcome,
        ((i * 37) % 900) * 100 + 250,
      ),
    );
  }
  records.push(
    child(T0, 'start'),
    child(T0 + HOUR, 'exit', false, true),
    child(T0 + HOUR + 1, 'start', true),
    child(T0 + 2 * HOUR, 'exit'),
  );
  const deltas = [0, 1, 2, 61, 125].map((m) => usage('acme', T0 + m * 60_000, 0.5, 64));
  deltas.push(usage('globex', T0 + 5 * 60_000, 0.25, 32));
  return { records, usage: deltas };
}

const window = { since: T0, until: T0 + 4 * HOUR, tenants: ['acme', 'globex'] };

const session: RelaySession = {
  id: 's1',
  caller: { userId: 'alice', permissions: [], isAdmin: false },
  capabilities: undefined,
  deliver: () => true,
};

/** A TCP relay to the server that can be cut and restored: a database outage on demand. */
async function startRelay(target: number): Promise<{
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((socket) => {
        const remote = new Socket();
        sockets.add(socket).add(remote);
        socket.on('error', () => remote.destroy());
        remote.on('error', () => socket.destroy());
        socket.on('close', () => remote.destroy());
        remote.on('close', () => socket.destroy());
        remote.connect(target, '127.0.0.1', () => socket.pipe(remote).pipe(socket));
      });
      next.once('error', reject);
      // The same port again on restore: the pool reconnects where it was.
      next.listen(port, '127.0.0.1', () => {
        const address = next.address();
        port = typeof address === 'object' && address ? address.port : 0;
        server = next;
        resolve();
      });
    });
  const cut = async () => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise<void>((resolve) => (current ? current.close(() => resolve()) : resolve()));
  };
  await listen();
  return { port, cut, restore: listen };
}

describe.skipIf(postgresSkipReason !== undefined)('telemetry on PostgreSQL', () => {
  let postgres: TestPostgres;
  let databases = 0;
  const stores: PostgresStore[] = [];
  const sqlite: Database.Database[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const store of stores.splice(0)) await store.close();
    for (const db of sqlite.splice(0)) db.close();
  });
  afterAll(() => postgres?.stop());

  /** A fresh database with telemetry's tables; `pools` stores on it, as separate nodes would have. */
  async function freshDatabase(pools = 1): Promise<{ url: string; stores: PostgresStore[] }> {
    databases += 1;
    const url = await postgres.createDatabase(`telemetry${databases}`);
    const opened: PostgresStore[] = [];
    for (let i = 0; i < pools; i++) opened.push(await openStore(url));
    const first = opened[0] as PostgresStore;
    await migrate(first, TELEMETRY_MIGRATIONS);
    return { url, stores: opened };
  }

  async function openStore(url: string): Promise<PostgresStore> {
    const store = await PostgresStore.open(url, {
      log: silentLogger,
      applicationName: 'telemetry test',
    });
    stores.push(store);
    return store;
  }

  function sqliteWith(records: TelemetryRecord[], deltas: UsageDelta[]): Database.Database {
    const db = new Database(':memory:');
    sqlite.push(db);
    new TelemetryStore(db).write(records, deltas);
    return db;
  }

  const count = async (store: PostgresStore, table: string): Promise<number> =>
    (await pgRows<{ n: number }>(store.pool, `SELECT count(*) AS n FROM ${table}`))[0]?.n ?? -1;

  it('writes a batch and reports it exactly as SQLite does from the same records', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const { records, usage: deltas } = seed();
    await new PgTelemetryStore(pg).write(records, deltas);

    expect(await count(pg, 'telemetry_requests')).toBe(180);
    expect(await count(pg, 'telemetry_children')).toBe(4);
    expect(await count(pg, 'telemetry_usage')).toBe(6);
    const fromPg = await buildReportFromPostgres(pg, window);
    const fromSqlite = buildReport(sqliteWith(records, deltas), window);
    expect(fromPg).toEqual(fromSqlite);
    const acme = fromPg.tenants.find((tenant) => tenant.tenant === 'acme');
    expect(acme).toMatchObject({
      requests: 120,
      tool_calls: 120,
      starts: 2,
      restarts: 1,
      crashes: 1,
      limit_kills: 1,
      cpu_seconds: 2.5,
      users: 4,
      cold_start_ms: { max: 300 + HOUR + 1 },
      child: { tool_calls: 10, tool_errors: 5, rows: 3, db_mb: mb(4096 * 126) },
    });
    const acmeRows = records.filter(
      (record): record is RequestRecord => record.kind === 'request' && record.tenant === 'acme',
    );
    const outcomes = (outcome: Outcome) => acmeRows.filter((r) => r.outcome === outcome).length;
    expect(acme?.errors).toMatchObject({
      tool_error: outcomes('tool_error'),
      timeout: outcomes('timeout'),
      permission: outcomes('permission'),
    });
    expect(acme?.cancelled).toBe(outcomes('cancelled'));
    expect(outcomes('timeout')).toBeGreaterThan(0);
    expect(acme?.latency_ms.approximate).toBe(false);
  });

  it('stores text PostgreSQL would refuse, and the audit row still verifies', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const odd = request(T0, 'acme', 'nul\u0000user', 'half\uD800', 'ok', 1_000);
    const entry = { ...audit('acme', 'tool\u0000name'), actor: 'a\uDC00b' };
    // A child may report fractional counts; a BIGINT column takes them rounded.
    const fractional = { ...usage('acme', T0, 0.5, 1), toolCalls: 1.5, dbBytes: 10.4 };
    await new PgTelemetryStore(pg).write([odd, entry], [fractional]);
    const [row] = await pgRows<{ user: string; name: string }>(
      pg.pool,
      'SELECT "user", name FROM telemetry_requests',
    );
    expect(row).toEqual({ user: 'nul\uFFFDuser', name: 'half\uFFFD' });
    const [logged] = await queryAuditPg(pg, { since: 0, until: T0 + 1, limit: 10 });
    expect(logged).toMatchObject({ target: 'tool\uFFFDname', actor: 'a\uFFFDb', seq: 1 });
    expect((await verifyAuditPg(pg)).map((chain) => [chain.tenant, chain.ok])).toEqual([
      ['acme', true],
    ]);
    const [figures] = await pgRows<{ tool_calls: number; db_bytes: number }>(
      pg.pool,
      'SELECT tool_calls, db_bytes FROM telemetry_usage',
    );
    expect(figures).toEqual({ tool_calls: 2, db_bytes: 10 });
  });

  it('keeps every chain verifiable with two nodes appending to the same tenants at once', async () => {
    const { stores: pools } = await freshDatabase(2);
    const tenants = ['acme', 'globex', 'initech'];
    await Promise.all(
      pools.map(async (pool, node) => {
        const writer = new PgTelemetryStore(pool);
        for (let batch = 0; batch < 20; batch++) {
          const entries = Array.from({ length: 10 }, (_, i) => {
            const n = batch * 10 + i;
            return audit(tenants[n % 3] as string, `node${node}-${n}`, T0 + n);
          });
          await writer.write(entries, []);
        }
      }),
    );
    const pg = pools[0] as PostgresStore;
    const chains = await verifyAuditPg(pg);
    expect(chains.map((chain) => [chain.tenant, chain.rows, chain.ok, chain.head.seq])).toEqual([
      ['acme', 134, true, 134],
      ['globex', 134, true, 134],
      ['initech', 132, true, 132],
    ]);
    expect(chains.flatMap((chain) => chain.problems)).toEqual([]);
    // The same rows pass the chain check SQLite's verification uses, unchanged.
    const rows = await pgRows<ChainedRow>(
      pg.pool,
      `SELECT tenant, seq, ts, actor, action, target, outcome, detail, prev_hash, hash
       FROM audit_log WHERE tenant = 'acme' ORDER BY seq`,
    );
    const heads = await pgRows<{ seq: number; hash: string }>(
      pg.pool,
      "SELECT seq, hash FROM audit_heads WHERE tenant = 'acme'",
    );
    expect(verifyChain(rows, heads[0]).problems).toEqual([]);
    // The nodes' rows really are interleaved in the chain.
    const nodes = rows.map((row) => row.target?.split('-')[0]);
    const switches = nodes.filter((node, i) => i > 0 && node !== nodes[i - 1]).length;
    expect(switches).toBeGreaterThan(0);
    expect(new Set(nodes)).toEqual(new Set(['node0', 'node1']));
  });

  it('notices a modified and a deleted row in PostgreSQL, and names them', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const entries = Array.from({ length: 12 }, (_, i) =>
      audit(i % 2 === 0 ? 'acme' : 'globex', `t${i}`, T0 + i),
    );
    await new PgTelemetryStore(pg).write(entries, []);
    expect((await verifyAuditPg(pg)).every((chain) => chain.ok)).toBe(true);

    await pg.query("UPDATE audit_log SET outcome = 'refused' WHERE tenant = 'globex' AND seq = 5");
    await pg.query("DELETE FROM audit_log WHERE tenant = 'acme' AND seq = 2");
    const [acme, globex] = await verifyAuditPg(pg);
    expect(acme).toMatchObject({ tenant: 'acme', rows: 5, ok: false });
    expect(acme?.problems).toEqual([{ seq: 3, problem: 'row 2 is missing (deleted)' }]);
    expect(globex).toMatchObject({ tenant: 'globex', rows: 6, ok: false });
    expect(globex?.problems).toEqual([
      { seq: 5, problem: 'was modified: its hash does not match its content' },
    ]);
    expect((await verifyAuditPg(pg, 'globex')).map((chain) => chain.tenant)).toEqual(['globex']);

    // Deleting the last rows is caught by the recorded head.
    await pg.query("DELETE FROM audit_log WHERE tenant = 'acme' AND seq >= 5");
    const [shortened] = await verifyAuditPg(pg, 'acme');
    expect(shortened?.problems.at(-1)?.problem).toContain('last rows deleted');
  });

  it('lists audit rows with filters, newest `limit` of them, oldest first', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const entries = Array.from({ length: 6 }, (_, i) => ({
      ...audit(i < 3 ? 'acme' : 'globex', `t${i}`, T0 + i),
      actor: i % 2 === 0 ? 'alice' : 'bob',
    }));
    await new PgTelemetryStore(pg).write(entries, []);
    const all = await queryAuditPg(pg, { since: T0, until: T0 + 10, limit: 100 });
    expect(all.map((row) => row.target)).toEqual(['t0', 't1', 't2', 't3', 't4', 't5']);
    expect(all[0]).toMatchObject({
      tenant: 'acme',
      seq: 1,
      ts: T0,
      detail: '{"jti":"j1","n":"t0"}',
    });
    expect(typeof all[0]?.id).toBe('number');
    const newest = await queryAuditPg(pg, { since: T0, until: T0 + 10, limit: 2 });
    expect(newest.map((row) => row.target)).toEqual(['t4', 't5']);
    const bob = await queryAuditPg(pg, {
      ...{ since: T0, until: T0 + 10, limit: 100 },
      ...{ tenant: 'globex', user: 'bob', action: 'tools/call' },
    });
    expect(bob.map((row) => row.target)).toEqual(['t3', 't5']);
    expect(await queryAuditPg(pg, { since: T0 + 3, until: T0 + 4, limit: 9 })).toHaveLength(1);
  });

  it('totals in the report what two nodes wrote', async () => {
    const { stores: pools } = await freshDatabase(2);
    const [a, b] = pools.map((pool) => new PgTelemetryStore(pool));
    const minute = T0 + 10 * 60_000;
    await Promise.all([
      a?.write(
        Array.from({ length: 30 }, (_, i) =>
          request(minute + i, 'acme', 'alice', 'get', 'ok', 900),
        ),
        [usage('acme', minute, 1, 10)],
      ),
      b?.write(
        [
          ...Array.from({ length: 20 }, (_, i) =>
            request(minute + i, 'acme', 'bob', 'set', 'tool_error', 1_100),
          ),
          ...Array.from({ length: 5 }, (_, i) =>
            request(minute + i, 'globex', 'carol', 'get', 'quota', 10),
          ),
        ],
        // The same child's pid on another host, in the same minute: the figures add up.
        [usage('acme', minute, 2, 10)],
      ),
    ]);
    const report = await buildReportFromPostgres(pools[0] as PostgresStore, window);
    const [acme, globex] = report.tenants;
    expect(acme).toMatchObject({
      tenant: 'acme',
      requests: 50,
      tool_calls: 50,
      users: 2,
      cpu_seconds: 3,
      errors: { total: 20, tool_error: 20 },
      request_bytes: 5_000,
      response_bytes: 2_500,
      top_tools: [
        { name: 'get', calls: 30, errors: 0, p50_ms: 0.9 },
        { name: 'set', calls: 20, errors: 20, p50_ms: 1.1 },
      ],
    });
    expect(acme?.memory_mb_hours).toBeCloseTo((10 * 60 * 2) / 3600, 4);
    expect(globex).toMatchObject({ requests: 5, errors: { total: 5, quota: 5 }, users: 1 });
    const onlyGlobex = await buildReportFromPostgres(pools[1] as PostgresStore, {
      ...window,
      only: 'globex',
      storageMb: () => 1.5,
    });
    expect(
      onlyGlobex.tenants.map((tenant) => [tenant.tenant, tenant.requests, tenant.storage_mb]),
    ).toEqual([['globex', 5, 1.5]]);
    const onlyAcme = await buildReportFromPostgres(pools[1] as PostgresStore, {
      ...window,
      only: 'acme',
    });
    expect(onlyAcme.tenants).toEqual(report.tenants.filter((tenant) => tenant.tenant === 'acme'));
  });

  it('rolls up and prunes by the same rules as SQLite, one bounded step at a time', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const { records, usage: deltas } = seed();
    await new PgTelemetryStore(pg).write(records, deltas);
    const db = sqliteWith(records, deltas);
    const before = await buildReportFromPostgres(pg, window);

    const options = { retentionDays: 1, rollupRetentionDays: 400, chunkRows: 50 };
    const retention = new PgRetention(pg, options);
    const now = T0 + 3 * DAY_MS;
    const steps: number[] = [];
    for (let done = await retention.step(now); done > 0; done = await retention.step(now)) {
      steps.push(done);
    }
    expect(Math.max(...steps)).toBeLessThanOrEqual(50);
    expect(steps.reduce((sum, done) => sum + done, 0)).toBe(180 + 4 + 6);
    for (const table of ['telemetry_requests', 'telemetry_usage', 'telemetry_children']) {
      expect(await count(pg, table)).toBe(0);
    }
    new Retention(db, options).runAll(now);
    const after = await buildReportFromPostgres(pg, window);
    // Rolled up alike: the same aggregates, so the same report, estimates included.
    expect(after).toEqual(buildReport(db, window));
    const totals = (report: typeof before) =>
      report.tenants.map(({ latency_ms: _l, top_tools, users: _u, ...rest }) => ({
        ...rest,
        top_tools: top_tools.map(({ p50_ms: _p, ...tool }) => tool),
      }));
    expect(totals(after)).toEqual(totals(before));
    expect(after.tenants.every((tenant) => tenant.latency_ms.approximate)).toBe(true);

    // A late row of a rolled-up hour (another node's) lands in the same aggregate.
    await new PgTelemetryStore(pg).write([request(T0 + 5, 'acme', 'x', 't0', 'ok', 3_000)], []);
    expect(await retention.runAll(now)).toBe(1);
    const late = await buildReportFromPostgres(pg, window);
    expect(late.tenants.map((tenant) => tenant.requests)).toEqual([121, 60]);
    // Into the existing aggregate of its hour, not a second one.
    const [merged] = await pgRows<{ count: number; buckets: number }>(
      pg.pool,
      `SELECT count, (SELECT sum(b) FROM unnest(latency_buckets) AS b) AS buckets
       FROM telemetry_requests_hourly
       WHERE tenant = 'acme' AND hour = $1 AND name = 't0' AND outcome = 'ok'`,
      [T0],
    );
    expect(merged?.count).toBe(merged?.buckets);
    expect(merged?.count).toBe(
      records.filter(
        (r) =>
          r.kind === 'request' &&
          r.tenant === 'acme' &&
          r.name === 't0' &&
          r.outcome === 'ok' &&
          r.ts < T0 + HOUR,
      ).length + 1,
    );

    // Past rollup_retention_days the aggregates go too.
    const pruning = new PgRetention(pg, { ...options, rollupRetentionDays: 2 });
    expect(await pruning.runAll(T0 + 10 * DAY_MS)).toBeGreaterThan(0);
    for (const table of [
      'telemetry_requests_hourly',
      'telemetry_usage_hourly',
      'telemetry_children_hourly',
    ]) {
      expect(await count(pg, table)).toBe(0);
    }
  });

  it('lets one node at a time do the retention step', async () => {
    const { stores: pools } = await freshDatabase(2);
    const [pg, other] = pools as [PostgresStore, PostgresStore];
    const { records, usage: deltas } = seed();
    await new PgTelemetryStore(pg).write(records, deltas);
    const before = await buildReportFromPostgres(pg, window);
    const retention = new PgRetention(pg, { retentionDays: 1, rollupRetentionDays: 400 });
    const now = T0 + 3 * DAY_MS;

    // Another node holds the lock: this one skips its turn and touches nothing.
    let release = (): void => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = (): void => {};
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = other.transaction(async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${lockKey("'telemetry retention'")})`);
      locked();
      await released;
    });
    await holding;
    expect(await retention.step(now)).toBe(0);
    expect(await count(pg, 'telemetry_requests')).toBe(180);
    release();
    await holder;

    // Two nodes stepping at once still add every row up once.
    const rival = new PgRetention(other, { retentionDays: 1, rollupRetentionDays: 400 });
    // (A node that finds the lock taken stops its run; the one holding it finishes the work.)
    const moved = await Promise.all([retention.runAll(now), rival.runAll(now)]);
    expect(moved[0] + moved[1]).toBe(180 + 4 + 6);
    expect(await rival.runAll(now)).toBe(0);
    const after = await buildReportFromPostgres(pg, window);
    expect(after.tenants.map((tenant) => tenant.requests)).toEqual(
      before.tenants.map((tenant) => tenant.requests),
    );
    expect(after.tenants.map((tenant) => tenant.cpu_seconds)).toEqual(
      before.tenants.map((tenant) => tenant.cpu_seconds),
    );
  });

  it('runs the Telemetry stage and audit trail on PostgreSQL through its batch writer', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const telemetry = new Telemetry({
      store: { kind: 'postgres', pg },
      config: {
        retention_days: 30,
        rollup_retention_days: 400,
        flush_interval_ms: 60_000,
        flush_rows: 1000,
      },
      log: silentLogger,
      isTenant: () => true,
    });
    cleanups.push(() => telemetry.close());
    const tenant = tenantConfig({ id: 'acme' });
    const child = async (message: JsonRpcRequest): Promise<JsonRpcResponse> => ({
      jsonrpc: '2.0',
      id: message.id,
      result: { content: [] },
    });
    const send = (id: number) =>
      runStages(
        [telemetry.stage],
        {
          tenant,
          session,
          request: { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'data_get' } },
          startedAt: performance.now(),
          cancellation: new Cancellation(),
        },
        child,
      );
    for (let i = 0; i < 5; i++) await send(i);
    // Nothing is written on the request path.
    expect(await count(pg, 'telemetry_requests')).toBe(0);

    // A flush asked for while one is in flight waits for it, then writes what came meanwhile.
    const first = telemetry.flush();
    expect(first).toBeInstanceOf(Promise);
    for (let i = 5; i < 8; i++) await send(i);
    telemetry.audit({
      ...{ tenant: 'acme', actor: 'operator', action: 'admin/reset' },
      ...{ target: null, outcome: 'ok', detail: null },
    });
    const second = telemetry.flush();
    await Promise.all([first, second]);
    expect(await count(pg, 'telemetry_requests')).toBe(8);
    const rows = await queryAuditPg(pg, { since: 0, until: Date.now() + 1, limit: 100 });
    expect(rows.map((row) => row.action)).toEqual([...Array(8).fill('tools/call'), 'admin/reset']);
    expect(rows.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

    // A record that cannot be written is dropped alone, and counted.
    telemetry.audit({
      ...{ tenant: 'acme', actor: 'operator', action: 'poison', target: null, outcome: 'ok' },
      detail: { n: 1n },
    });
    await send(8);
    await telemetry.flush();
    expect(await count(pg, 'telemetry_requests')).toBe(9);
    const metrics = parsePrometheus(telemetry.metrics.render(() => true, []));
    expect(sumOf(metrics, 'mcp_tenants_telemetry_dropped_total', { tenant: 'acme' })).toBe(1);

    // close() writes what is left, and resolves once it is written.
    await send(99);
    await telemetry.close();
    expect(await count(pg, 'telemetry_requests')).toBe(10);
    expect((await verifyAuditPg(pg)).map((chain) => [chain.tenant, chain.rows, chain.ok])).toEqual([
      ['acme', 11, true],
    ]);
  });

  it('keeps records while the database is unreachable and writes them once it is back', async () => {
    const { url } = await freshDatabase();
    const relay = await startRelay(postgres.port);
    cleanups.push(() => relay.cut());
    const viaRelay = new URL(url);
    viaRelay.port = String(relay.port);
    const pg = await openStore(viaRelay.toString());
    const telemetry = new Telemetry({
      store: { kind: 'postgres', pg },
      config: {
        retention_days: 30,
        rollup_retention_days: 400,
        flush_interval_ms: 60_000,
        flush_rows: 1000,
      },
      log: silentLogger,
      isTenant: () => true,
    });
    cleanups.push(() => telemetry.close());
    const event = (target: string) =>
      telemetry.audit({
        ...{ tenant: 'acme', actor: 'operator', action: 'admin/reset', target },
        ...{ outcome: 'ok', detail: null },
      });
    event('before');
    await telemetry.flush();

    await relay.cut();
    event('during-1');
    event('during-2');
    await telemetry.flush();
    const metrics = () => parsePrometheus(telemetry.metrics.render(() => true, []));
    expect(sumOf(metrics(), 'mcp_tenants_telemetry_dropped_total', { tenant: 'acme' })).toBe(0);

    await relay.restore();
    await telemetry.flush();
    const direct = await openStore(url);
    const rows = await queryAuditPg(direct, { since: 0, until: Date.now() + 1, limit: 10 });
    expect(rows.map((row) => [row.target, row.seq])).toEqual([
      ['before', 1],
      ['during-1', 2],
      ['during-2', 3],
    ]);
    expect((await verifyAuditPg(direct))[0]?.ok).toBe(true);
    expect(sumOf(metrics(), 'mcp_tenants_telemetry_dropped_total', { tenant: 'acme' })).toBe(0);
  });

  it('tells a store that is down from a row that cannot be stored', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    // A row the database refuses (an out-of-range pid) is the row's fault.
    const bad: ChildRecord = { ...child(T0, 'start'), pid: 2 ** 40 };
    const refusal = await new PgTelemetryStore(pg).write([bad], []).catch((error) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect(isPgStoreUnavailable(refusal)).toBe(false);
    // A deadlock or a failover is not; nor is a pool already closed.
    expect(isPgStoreUnavailable(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(
      true,
    );
    expect(isPgStoreUnavailable(Object.assign(new Error('read only'), { code: '25006' }))).toBe(
      true,
    );
    const closed = await openStore(postgres.url);
    await closed.close();
    const afterEnd = await new PgTelemetryStore(closed)
      .write([audit('acme', 'x')], [])
      .catch((error) => error);
    expect(isPgStoreUnavailable(afterEnd)).toBe(true);
  });

  it('SQLite and PostgreSQL chain the same entries to the same hashes', async () => {
    const {
      stores: [store],
    } = await freshDatabase();
    const pg = store as PostgresStore;
    const entries = [audit('acme', 'a', T0), audit('globex', 'b', T0 + 1), audit('acme', 'c', T0)];
    await new PgTelemetryStore(pg).write(entries, []);
    const db = new Database(':memory:');
    sqlite.push(db);
    new TelemetryStore(db);
    db.transaction(() => new AuditAppender(db).append(entries))();
    const fromPg = await verifyAuditPg(pg);
    expect(fromPg).toEqual(verifyAudit(db));
    expect(fromPg.map((chain) => chain.head.seq)).toEqual([2, 1]);
  });
});

/** Bytes in MiB as the report rounds them. */
function mb(bytes: number): number {
  return Math.round((bytes / MIB) * 1000) / 1000;
}
