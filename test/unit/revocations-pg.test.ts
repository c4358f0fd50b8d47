import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REVOCATION_MIGRATIONS } from '../../src/auth/pg-migrations.js';
import { PgRevocationFeed, PgRevocationTable } from '../../src/auth/pg-revocations.js';
import { ErrorCode } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';
import { createWorkspace, runCli, type TestWorkspace } from '../helpers/serve-process.js';

const HOUR = 3_600_000;

describe.skipIf(postgresSkipReason !== undefined)('revocations on PostgreSQL', () => {
  let server: TestPostgres;
  let databases = 0;
  const stores: PostgresStore[] = [];
  const feeds: PgRevocationFeed[] = [];
  const workspaces: TestWorkspace[] = [];

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterEach(async () => {
    await Promise.all(feeds.splice(0).map((feed) => feed.close()));
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const workspace of workspaces.splice(0)) workspace.cleanup();
  });

  afterAll(() => server?.stop());

  const database = async () => {
    const url = await server.createDatabase(`revocations_${++databases}`);
    return { url, store: await open(url, true) };
  };

  const open = async (url: string, migrated = false) => {
    const store = await PostgresStore.open(url, {
      log: silentLogger,
      applicationName: 'revocation test',
    });
    stores.push(store);
    if (migrated) await migrate(store, REVOCATION_MIGRATIONS);
    return store;
  };

  /** A node's feed on a pool of its own, with everything it announces. */
  const node = async (
    url: string,
    options: { pollIntervalMs?: number; now?: () => number } = {},
  ) => {
    const feed = new PgRevocationFeed({ pg: await open(url), log: silentLogger, ...options });
    feeds.push(feed);
    const announced: string[] = [];
    feed.onRevoked((jti) => announced.push(jti));
    await feed.ready();
    return { feed, announced };
  };

  /** The backend pid of a feed's LISTEN connection. */
  const listenerPid = async (store: PostgresStore) =>
    (
      await store.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN mcp_revocations' AND state = 'idle'",
      )
    ).rows.map((row) => row.pid);

  it('reaches another node within 2 s by NOTIFY, without waiting for its poll', async () => {
    const { url } = await database();
    const a = await node(url);
    // A poll an hour apart: only the notification can tell b in time.
    const b = await node(url, { pollIntervalMs: HOUR });
    await waitFor(async () => (await listenerPid(stores[0] as PostgresStore)).length === 2);
    const started = Date.now();
    expect(await a.feed.revoke('jti-1', 'laptop lost', Date.now() + HOUR)).toBe(true);
    // The node that revoked knows at once, and tells its own listeners.
    expect(a.feed.has('jti-1')).toBe(true);
    expect(a.announced).toEqual(['jti-1']);
    await waitFor(() => b.feed.has('jti-1') && b.announced.includes('jti-1'), 2_000, 'b told');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(b.announced).toEqual(['jti-1']);
    expect(b.feed.has('jti-2')).toBe(false);
    expect(await a.feed.revoke('jti-1', 'again')).toBe(false);
    expect((await b.feed.list()).map((entry) => [entry.jti, entry.reason])).toEqual([
      ['jti-1', 'laptop lost'],
    ]);
  });

  it('still propagates when the LISTEN connection is killed: the poll, then the reconnect', async () => {
    const { url, store } = await database();
    const a = await node(url);
    const b = await node(url);
    await waitFor(async () => (await listenerPid(store)).length === 2);
    const before = await listenerPid(store);
    await store.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
    const started = Date.now();
    await a.feed.revoke('while-deaf', undefined, Date.now() + HOUR);
    await waitFor(() => b.feed.has('while-deaf') && b.announced.includes('while-deaf'), 2_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    // Both listeners come back on new connections.
    const after = await waitFor(
      async () => {
        const pids = await listenerPid(store);
        return pids.length === 2 && pids.every((pid) => !before.includes(pid)) ? pids : undefined;
      },
      5_000,
      'the listeners reconnected',
    );
    expect(after).toHaveLength(2);
    await a.feed.revoke('after-reconnect', undefined, Date.now() + HOUR);
    await waitFor(() => b.feed.has('after-reconnect'), 2_000);
    expect(b.announced).toEqual(['while-deaf', 'after-reconnect']);
  });

  it('loads what can still be presented at start, and refuses to answer before', async () => {
    const { url, store } = await database();
    const table = new PgRevocationTable(store);
    await table.revoke('valid', undefined, Date.now() + HOUR);
    await table.revoke('expired', undefined, Date.now() - HOUR);
    await table.revoke('jti-alone');
    const feed = new PgRevocationFeed({ pg: await open(url), log: silentLogger });
    feeds.push(feed);
    // Not yet read: no answer is safe, so none is given.
    expect(() => feed.has('valid')).toThrow(
      expect.objectContaining({ code: ErrorCode.STORE_UNAVAILABLE }),
    );
    await feed.ready();
    expect(feed.has('valid')).toBe(true);
    expect(feed.has('jti-alone')).toBe(true);
    // Expired an hour ago: the verifier refuses it anyway, memory need not keep it.
    expect(feed.has('expired')).toBe(false);
    expect((await feed.list()).map((entry) => entry.jti).sort()).toEqual([
      'expired',
      'jti-alone',
      'valid',
    ]);
  });

  it('drops entries from memory once their token has long expired', async () => {
    const { url } = await database();
    let skew = 0;
    const b = await node(url, { pollIntervalMs: HOUR, now: () => Date.now() + skew });
    await b.feed.revoke('short-lived', undefined, Date.now() + 1_000);
    await b.feed.revoke('no-expiry');
    expect(b.feed.has('short-lived')).toBe(true);
    skew = 12 * 60_000;
    await b.feed.poll();
    expect(b.feed.has('short-lived')).toBe(false);
    expect(b.feed.has('no-expiry')).toBe(true);
    // Re-read within the overlap, it is neither taken back nor announced again.
    await b.feed.poll();
    expect(b.feed.has('short-lived')).toBe(false);
    expect(b.announced).toEqual(['short-lived', 'no-expiry']);
  });

  it('`mcp-tenants revoke` writes the database and every node refuses within 2 s', async () => {
    const { url } = await database();
    const workspace = createWorkspace({ acme: {} }, { store: url });
    workspaces.push(workspace);
    const b = await node(url, { pollIntervalMs: HOUR });
    const token = await workspace.token('acme');
    const jti = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())
      .jti as string;
    const revoked = runCli(['revoke', token, '-m', workspace.manifestPath, '--reason', 'test']);
    const done = Date.now();
    expect(revoked).toMatchObject({
      code: 0,
      stdout: `revoked ${jti}: refused from the next request on\n`,
    });
    await waitFor(() => b.feed.has(jti) && b.announced.includes(jti), 2_000, 'the node told');
    expect(Date.now() - done).toBeLessThan(2_000);
    expect(runCli(['revoke', jti, '-m', workspace.manifestPath]).stdout).toBe(
      `${jti} was already revoked\n`,
    );
    const listed = runCli(['revoke', '--list', '-m', workspace.manifestPath]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${jti}\\t\\d{4}-\\d\\d-\\d\\dT[^\\t]+\\ttest\\n$`));
    const entry = (await b.feed.list())[0];
    // Revoked by the whole token: it remembers when the token expires anyway.
    expect(entry?.expires_at).toBeGreaterThan(Date.now());
  });
});
