import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/app/store.js';
import type { ClusterStore } from '../../src/cluster/cluster-store.js';
import { PgClusterStore } from '../../src/cluster/pg-cluster-store.js';
import { SqliteClusterStore } from '../../src/cluster/sqlite-cluster-store.js';
import { createLogger } from '../../src/core/logger.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const silent = createLogger({ level: 'silent' });

/** The lease rules, the same on both stores. */
function leaseContract(
  name: string,
  open: () => Promise<{ store: ClusterStore; expire: (tenant: string) => Promise<void> }>,
) {
  describe(`tenant leases on ${name}`, () => {
    it('gives a free lease to the first node, refuses it to another while valid', async () => {
      const { store } = await open();
      const first = await store.acquire('acme', 'node-a', 60_000);
      expect(first).toMatchObject({ tenant: 'acme', node_id: 'node-a', epoch: 1, valid: true });
      const second = await store.acquire('acme', 'node-b', 60_000);
      expect(second).toMatchObject({ node_id: 'node-a', epoch: 1, valid: true });
      // The holder taking it again renews it under the same epoch.
      expect(await store.acquire('acme', 'node-a', 60_000)).toMatchObject({
        node_id: 'node-a',
        epoch: 1,
      });
    });

    it('hands a lapsed lease to the next node under a higher epoch; the old holder cannot renew it', async () => {
      const { store, expire } = await open();
      await store.acquire('globex', 'node-a', 60_000);
      await expire('globex');
      const taken = await store.acquire('globex', 'node-b', 60_000);
      expect(taken).toMatchObject({ node_id: 'node-b', epoch: 2, valid: true });
      expect(
        (await store.renew('node-a', ['globex'], 60_000)).map((lease) => lease.tenant),
      ).not.toContain('globex');
      expect(
        (await store.renew('node-b', ['globex'], 60_000)).map((lease) => lease.tenant),
      ).toContain('globex');
    });

    it('bumps the epoch even for the same node when its own lease had lapsed', async () => {
      const { store, expire } = await open();
      await store.acquire('initech', 'node-a', 60_000);
      await expire('initech');
      expect(await store.acquire('initech', 'node-a', 60_000)).toMatchObject({ epoch: 2 });
    });

    it('keeps the epoch across a release, so the next holder is fenced from the last', async () => {
      const { store } = await open();
      await store.acquire('umbrella', 'node-a', 60_000);
      await store.release('umbrella', 'node-a', 1);
      const leases = await store.leases();
      expect(leases.find((lease) => lease.tenant === 'umbrella')).toMatchObject({
        valid: false,
        epoch: 1,
      });
      expect(await store.acquire('umbrella', 'node-b', 60_000)).toMatchObject({
        node_id: 'node-b',
        epoch: 2,
      });
    });

    it('renews only the leases named, and releases only under the epoch held', async () => {
      const { store, expire } = await open();
      await store.acquire('named', 'node-a', 60_000);
      await store.acquire('unnamed', 'node-a', 60_000);
      await expire('named');
      await expire('unnamed');
      // Lapsed: a renewal cannot bring either back.
      expect(await store.renew('node-a', ['named', 'unnamed'], 60_000)).toEqual([]);
      await store.acquire('named', 'node-a', 60_000);
      const renewed = await store.renew('node-a', ['named'], 60_000);
      expect(renewed.map((lease) => lease.tenant)).toEqual(['named']);
      // A release under an older epoch (a late one, after a takeover and back) is ignored.
      await store.release('named', 'node-a', 1);
      expect((await store.leases()).find((lease) => lease.tenant === 'named')?.valid).toBe(true);
      await store.release('named', 'node-a', 2);
      expect((await store.leases()).find((lease) => lease.tenant === 'named')?.valid).toBe(false);
    });

    it('ends every lease of a node that leaves, and forgets the node', async () => {
      const { store } = await open();
      await store.register({ node_id: 'node-x', url: 'http://127.0.0.1:1', host: 'h', pid: 1 });
      await store.heartbeat('node-x', { tenants: 1, sessions: 2, children: 1 });
      expect((await store.nodes()).find((node) => node.node_id === 'node-x')).toMatchObject({
        url: 'http://127.0.0.1:1',
        load: { tenants: 1, sessions: 2, children: 1 },
      });
      await store.acquire('hooli', 'node-x', 60_000);
      await store.leave('node-x');
      expect((await store.nodes()).map((node) => node.node_id)).not.toContain('node-x');
      expect((await store.leases()).find((lease) => lease.tenant === 'hooli')?.valid).toBe(false);
    });

    it('lets exactly one of many racing nodes take a free lease', async () => {
      const { store } = await open();
      const attempts = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.acquire('raced', `node-${i}`, 60_000)),
      );
      const holders = new Set(attempts.map((lease) => lease.node_id));
      expect(holders.size).toBe(1);
      expect(attempts.every((lease) => lease.epoch === 1)).toBe(true);
    });
  });
}

leaseContract('SQLite', async () => {
  let now = Date.now();
  const db = new Database(':memory:');
  const store = new SqliteClusterStore(db, () => now);
  return {
    store,
    expire: async () => {
      now += 120_000;
    },
  };
});

describe.skipIf(postgresSkipReason !== undefined)('on PostgreSQL', () => {
  let postgres: TestPostgres;
  const stores: PostgresStore[] = [];
  let database = 0;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    postgres?.stop();
  });
  it('renews past a lease row a write holds, instead of waiting behind it', async () => {
    const url = await postgres.createDatabase(`leases${database++}`);
    const pg = await PostgresStore.open(url, { log: silent, applicationName: 'test' });
    stores.push(pg);
    await migrate(pg, MIGRATIONS);
    const store = new PgClusterStore(pg);
    await store.acquire('written', 'node-a', 60_000);
    await store.acquire('quiet', 'node-a', 60_000);
    // What a tenant's fenced write does: it holds its lease row until it commits.
    await pg.transaction(async (client) => {
      await client.query("SELECT 1 FROM mcp_leases WHERE tenant = 'written' FOR SHARE");
      const renewed = await store.renew('node-a', ['written', 'quiet'], 60_000);
      expect(renewed.map((lease) => lease.tenant)).toEqual(['quiet']);
    });
    expect((await store.renew('node-a', ['written', 'quiet'], 60_000)).length).toBe(2);
  });

  leaseContract('PostgreSQL', async () => {
    const url = await postgres.createDatabase(`leases${database++}`);
    const pg = await PostgresStore.open(url, { log: silent, applicationName: 'test' });
    stores.push(pg);
    await migrate(pg, MIGRATIONS);
    return {
      store: new PgClusterStore(pg),
      expire: async (tenant) => {
        await pg.query(
          "UPDATE mcp_leases SET expires_at = now() - interval '1 second' WHERE tenant = $1",
          [tenant],
        );
      },
    };
  });
});
