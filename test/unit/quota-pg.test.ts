import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { type CounterDatabase, PgCounters } from '../../src/quota/pg-counters.js';
import { QUOTA_MIGRATIONS } from '../../src/quota/pg-migrations.js';
import type { Admission, CounterCheck } from '../../src/quota/shared-counters.js';
import { DAY, MINUTE, MONTH } from '../../src/quota/windows.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';

const START = Date.UTC(2025, 0, 15, 12, 0, 0);

const perMinute = (limit: number, scope = 'minute:tenant:acme'): CounterCheck => ({
  scope,
  window: MINUTE,
  limit,
});

/** A store whose statements are counted: the round trips a decision costs. */
function counted(store: PostgresStore): { db: CounterDatabase; calls: () => number } {
  let calls = 0;
  const db: CounterDatabase = {
    where: store.where,
    explain: (error) => store.explain(error),
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
      calls++;
      return store.query<R>(text, values);
    },
  };
  return { db, calls: () => calls };
}

describe.skipIf(postgresSkipReason !== undefined)('quota counters on PostgreSQL', () => {
  let server: TestPostgres;
  let databases = 0;
  const stores: PostgresStore[] = [];
  const counters: PgCounters[] = [];

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterEach(async () => {
    await Promise.all(counters.splice(0).map((counter) => counter.close()));
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  afterAll(() => server?.stop());

  /** `nodes` supervisor nodes, each with its own pool, on one fresh database. */
  const cluster = async (
    nodes: number,
    options: { now?: () => number; batch?: number; timeoutMs?: number; url?: string } = {},
  ) => {
    const url = options.url ?? (await server.createDatabase(`quota_${++databases}`));
    const opened: { counter: PgCounters; store: PostgresStore; calls: () => number }[] = [];
    for (let i = 0; i < nodes; i++) {
      const store = await PostgresStore.open(url, {
        log: silentLogger,
        applicationName: `quota test node ${i}`,
      });
      stores.push(store);
      if (i === 0) await migrate(store, QUOTA_MIGRATIONS);
      const { db, calls } = counted(store);
      const counter = new PgCounters({
        pg: db,
        log: silentLogger,
        flushIntervalMs: 3_600_000,
        ...(options.now && { now: options.now }),
        ...(options.batch && { batch: options.batch }),
        ...(options.timeoutMs && { timeoutMs: options.timeoutMs }),
      });
      counters.push(counter);
      opened.push({ counter, store, calls });
    }
    return opened;
  };

  const total = async (store: PostgresStore, scope: string) =>
    Number(
      (
        await store.query<{ total: string }>(
          'SELECT coalesce(sum(count), 0) AS total FROM mcp_quota_counters WHERE scope = $1',
          [scope],
        )
      ).rows[0]?.total,
    );

  /** `calls` requests spread round-robin over the nodes, `wave` at a time in flight. */
  const flood = async (
    nodes: { counter: PgCounters }[],
    checks: CounterCheck[],
    calls: number,
    wave: number,
  ) => {
    let admitted = 0;
    for (let start = 0; start < calls; start += wave) {
      const batch: Promise<Admission>[] = [];
      for (let i = start; i < Math.min(calls, start + wave); i++) {
        const node = nodes[i % nodes.length] as { counter: PgCounters };
        batch.push(Promise.resolve(node.counter.tryAdmit(checks)));
      }
      for (const admission of await Promise.all(batch)) if (admission.admitted) admitted++;
    }
    return admitted;
  };

  it("admits exactly 10 a minute over three nodes, by the database's clock", async () => {
    const nodes = await cluster(3);
    expect(await flood(nodes, [perMinute(10)], 40, 40)).toBe(10);
    // The node that asks after the limit is refused with the time until the window frees.
    const refused = await nodes[0]?.counter.tryAdmit([perMinute(10)]);
    expect(refused).toMatchObject({ admitted: false, refused: 0, used: 10 });
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(59_000);
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(61_000);
    expect(await total(nodes[0]?.store as PostgresStore, 'minute:tenant:acme')).toBe(10);
  });

  it('holds under contention: twelve nodes asking at the same moment', async () => {
    const nodes = await cluster(12);
    for (let round = 0; round < 5; round++) {
      const scope = `minute:tenant:contended-${round}`;
      expect(await flood(nodes, [perMinute(10, scope)], 120, 120)).toBe(10);
      expect(await total(nodes[0]?.store as PostgresStore, scope)).toBe(10);
    }
  });

  it.each([
    ['a fixed clock', true],
    ["the database's clock", false],
  ])(
    'never admits more than 1000 of 1300 over three nodes, and nearly all of it (%s)',
    async (_, fixed) => {
      const nodes = await cluster(3, fixed ? { now: () => START } : {});
      const admitted = await flood(nodes, [perMinute(1000)], 1300, 30);
      expect(admitted).toBeLessThanOrEqual(1000);
      expect(admitted).toBeGreaterThanOrEqual(950);
      const roundTrips = nodes.reduce((sum, node) => sum + node.calls(), 0);
      // Reservations of up to B = 31: far fewer round trips than admissions.
      expect(roundTrips).toBeLessThan(200);
      // Stopping gives back what was reserved and not spent: the database holds what was admitted.
      await Promise.all(nodes.map((node) => node.counter.close()));
      expect(await total(nodes[0]?.store as PostgresStore, 'minute:tenant:acme')).toBe(admitted);
    },
  );

  it('counts every scope of a request or none, over nodes', async () => {
    const now = () => START;
    const [a, b, c] = (await cluster(3, { now })).map((node) => node.counter) as PgCounters[];
    const tenant = perMinute(5);
    const alice = perMinute(2, 'minute:user:acme:alice');
    const bob = perMinute(2, 'minute:user:acme:bob');
    const results: Admission[] = [];
    for (let i = 0; i < 3; i++) results.push(await (a as PgCounters).tryAdmit([tenant, alice]));
    expect(results.map((result) => result.admitted)).toEqual([true, true, false]);
    expect(results[2]).toMatchObject({ refused: 1, used: 2 });
    expect(await (b as PgCounters).tryAdmit([tenant, alice])).toMatchObject({
      admitted: false,
      refused: 1,
    });
    expect((await (c as PgCounters).tryAdmit([tenant, bob])).admitted).toBe(true);
    expect((await (b as PgCounters).tryAdmit([tenant, bob])).admitted).toBe(true);
    expect(await (c as PgCounters).tryAdmit([tenant, bob])).toMatchObject({
      admitted: false,
      refused: 1,
    });
    // alice's and bob's refusals took nothing from the tenant: one left, for carol.
    const carol = perMinute(2, 'minute:user:acme:carol');
    expect((await (a as PgCounters).tryAdmit([tenant, carol])).admitted).toBe(true);
    expect(
      await (b as PgCounters).tryAdmit([tenant, perMinute(2, 'minute:user:acme:dave')]),
    ).toMatchObject({ admitted: false, refused: 0, used: 5, retryAfterMs: 61_000 });
  });

  it('counts calendar days and months in UTC, refusing until the next one starts', async () => {
    const now = () => START;
    const nodes = await cluster(3, { now });
    const day: CounterCheck = { scope: 'day:tool_calls:acme', window: DAY, limit: 4 };
    const month: CounterCheck = { scope: 'month:tool_calls:acme', window: MONTH, limit: 3 };
    expect(await flood(nodes, [perMinute(100), day, month], 6, 6)).toBe(3);
    expect(await nodes[1]?.counter.tryAdmit([perMinute(100), day, month])).toEqual({
      admitted: false,
      refused: 2,
      used: 3,
      retryAfterMs: Date.UTC(2025, 1, 1) - START,
    });
    expect(await nodes[2]?.counter.tryAdmit([perMinute(100), day])).toMatchObject({
      admitted: true,
    });
    expect(await nodes[0]?.counter.tryAdmit([day])).toEqual({
      admitted: false,
      refused: 0,
      used: 4,
      retryAfterMs: Date.UTC(2025, 0, 16) - START,
    });
  });

  it('decides from memory while reservations last, and remembers a refusal without I/O', async () => {
    let clock = START;
    const [node] = await cluster(1, { now: () => clock });
    const { counter, calls } = node as { counter: PgCounters; calls: () => number };
    const first = counter.tryAdmit([perMinute(1000)]);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual({ admitted: true });
    expect(calls()).toBe(1);
    // B = 31 reserved by that one round trip: 30 more are decided synchronously.
    for (let i = 0; i < 30; i++)
      expect(counter.tryAdmit([perMinute(1000)])).toEqual({ admitted: true });
    expect(calls()).toBe(1);

    const limited = perMinute(3, 'minute:user:acme:alice');
    for (let i = 0; i < 3; i++) expect((await counter.tryAdmit([limited])).admitted).toBe(true);
    const before = calls();
    expect(await counter.tryAdmit([limited])).toMatchObject({ admitted: false, used: 3 });
    expect(calls()).toBe(before + 1);
    clock += 30_000;
    for (let i = 0; i < 100; i++) {
      expect(counter.tryAdmit([limited])).toEqual({
        admitted: false,
        refused: 0,
        used: 3,
        retryAfterMs: 31_000,
      });
    }
    expect(calls()).toBe(before + 1);
    // The window frees: the database is asked again, and admits.
    clock += 31_000;
    expect(await counter.tryAdmit([limited])).toEqual({ admitted: true });
    expect(calls()).toBe(before + 2);
  });

  it('gives back what a bucket did not spend once the bucket is over', async () => {
    let clock = START;
    const [node] = await cluster(1, { now: () => clock });
    const { counter, store } = node as { counter: PgCounters; store: PostgresStore };
    expect(await counter.tryAdmit([perMinute(1000)])).toEqual({ admitted: true });
    expect(await total(store, 'minute:tenant:acme')).toBe(31);
    clock += 1_000;
    counter.flush();
    await waitFor(
      async () => (await total(store, 'minute:tenant:acme')) === 1,
      5_000,
      'the unspent reservation given back',
    );
    // A reservation of the bucket that ended is not spent: the next admission asks again.
    expect(counter.tryAdmit([perMinute(1000)])).toBeInstanceOf(Promise);
  });

  it('refuses with STORE_UNAVAILABLE when the database is gone, never admitting uncounted', async () => {
    const own = await startPostgres();
    try {
      const url = await own.createDatabase('quota_down');
      const [node] = await cluster(1, { now: () => START, timeoutMs: 1_000, url });
      const { counter, calls } = node as { counter: PgCounters; calls: () => number };
      expect(await counter.tryAdmit([perMinute(1000)])).toEqual({ admitted: true });
      own.stop();
      // What the database granted before it went away is still spent.
      for (let i = 0; i < 30; i++) {
        expect(counter.tryAdmit([perMinute(1000)])).toEqual({ admitted: true });
      }
      const started = Date.now();
      const failure = await Promise.resolve(counter.tryAdmit([perMinute(1000)])).catch(
        (error: unknown) => error,
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(failure).toBeInstanceOf(McpTenantsError);
      expect(failure).toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
      expect((failure as McpTenantsError).httpStatus).toBe(503);
      expect((failure as McpTenantsError).message).toMatch(
        /cannot be counted against its quotas: .* refused rather than admitted uncounted/,
      );
      // Right after a failure, refused at once, without trying the database again.
      const asked = calls();
      await expect(
        Promise.resolve(counter.tryAdmit([perMinute(1000, 'minute:tenant:globex')])),
      ).rejects.toMatchObject({ code: ErrorCode.STORE_UNAVAILABLE });
      expect(calls()).toBe(asked);
    } finally {
      own.stop();
    }
  });
});
