import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster, type TestCluster } from '../helpers/cluster.js';
import { featureClient } from '../helpers/feature-client.js';
import { haproxySkipReason, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';
import { connectHttp, rawPost, statelessPost, textOf } from '../helpers/mcp-client.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import { fixture, runCli } from '../helpers/serve-process.js';

const TENANTS = {
  acme: {},
  globex: {},
  initech: {},
  metered: { quotas: { max_requests_per_minute: 10 } },
  features: fixture('features-server.mjs'),
  rounds: fixture('input-required-server.mjs'),
};

interface Answer {
  status: number;
  body: { result?: unknown; error?: { code: number; message: string } };
}

/**
 * Three supervisors on one PostgreSQL database, each with a data folder of
 * its own as if on separate hosts, behind a real haproxy (round robin).
 */
describe.skipIf(postgresSkipReason !== undefined || haproxySkipReason !== undefined)(
  'a cluster of three nodes on PostgreSQL',
  () => {
    let postgres: TestPostgres;
    let cluster: TestCluster;
    let balancer: TestHaproxy;
    const ports: number[] = [];

    const urlOf = (index: number): string => cluster.nodes[index]?.url ?? '';
    const call = async (url: string, tenant: string, name: string, args: Record<string, unknown>) =>
      (await statelessPost(url, {
        token: await cluster.token(tenant),
        method: 'tools/call',
        params: { name, arguments: args },
        headers: { connection: 'close' },
      })) as Answer;

    beforeAll(async () => {
      postgres = await startPostgres();
      const store = await postgres.createDatabase('cluster');
      cluster = await createCluster({
        store,
        size: 3,
        tenants: TENANTS,
        server: { allowed_hosts: ['127.0.0.1'] },
      });
      // All three at once on an empty database: the migrations run once.
      await Promise.all([0, 1, 2].map((index) => cluster.start(index)));
      for (const node of cluster.nodes) ports.push(Number(new URL(node?.url ?? '').port));
      balancer = await startHaproxy(ports);
    }, 60_000);

    afterAll(async () => {
      await balancer?.stop();
      await cluster?.cleanup();
      postgres?.stop();
    });

    it('refuses a peer header that does not verify, whoever sends it', async () => {
      const token = await cluster.token('acme');
      const forged = await rawPost(
        urlOf(0),
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        {
          authorization: `Bearer ${token}`,
          'x-mcp-tenants-peer': `${cluster.nodeIds[1]}:${Date.now()}:AAAA`,
          'mcp-protocol-version': '2026-07-28',
        },
      );
      expect(forged.status).toBe(403);
      expect(JSON.stringify(forged.body)).toContain('did not verify');
    });

    it('gives each node an id of its own and lists them all as live', () => {
      expect(new Set(cluster.nodeIds).size).toBe(3);
      const listed = runCli(['nodes', '--json', '-m', cluster.manifestPath]);
      expect(listed.stderr).toBe('');
      const nodes = (JSON.parse(listed.stdout) as { nodes: { node: string; live: boolean }[] })
        .nodes;
      expect(
        nodes
          .filter((node) => node.live)
          .map((node) => node.node)
          .sort(),
      ).toEqual([...cluster.nodeIds].sort());
    });

    it('reads through every node what was written through one, and names one owner everywhere', async () => {
      const client = await connectHttp(balancer.url, await cluster.token('acme'));
      try {
        const set = await client.callTool({
          name: 'data_set',
          arguments: { key: 'greeting', value: 'written through the balancer' },
        });
        expect(set.isError).not.toBe(true);
      } finally {
        await client.close();
      }
      for (const index of [0, 1, 2]) {
        const read = await call(urlOf(index), 'acme', 'data_get', { key: 'greeting' });
        expect(read.status).toBe(200);
        expect(textOf(read.body.result)).toContain('written through the balancer');
      }
      const owners = [0, 1, 2].map((index) => {
        const listed = runCli([
          'tenants',
          '--json',
          '-m',
          cluster.manifests[index] ?? '',
          '--url',
          urlOf(index).replace(/\/mcp$/, ''),
        ]);
        const tenants = (
          JSON.parse(listed.stdout) as { tenants: { id: string; node?: string | null }[] }
        ).tenants;
        return tenants.find((tenant) => tenant.id === 'acme')?.node;
      });
      expect(new Set(owners).size).toBe(1);
      expect(cluster.nodeIds).toContain(owners[0]);
    });

    const running = (index: number): boolean =>
      cluster.nodes[index]?.process.exitCode === null &&
      cluster.nodes[index]?.process.signalCode === null;

    /** The index of the node serving a tenant now, as the store's leases say. */
    const servingNode = (tenant: string): number => {
      const asked = [0, 1, 2].find(running) ?? 0;
      const listed = runCli([
        'tenants',
        '--json',
        '-m',
        cluster.manifestPath,
        '--url',
        urlOf(asked).replace(/\/mcp$/, ''),
      ]);
      const node = (
        JSON.parse(listed.stdout) as { tenants: { id: string; node?: string | null }[] }
      ).tenants.find((entry) => entry.id === tenant)?.node;
      const index = cluster.nodeIds.indexOf(node ?? '');
      expect(index).toBeGreaterThanOrEqual(0);
      return index;
    };

    /** The node serving a tenant, after a first request made some node take it. */
    const ownerOf = async (tenant: string): Promise<number> => {
      const asked = [0, 1, 2].find(running) ?? 0;
      const first = await statelessPost(urlOf(asked), {
        token: await cluster.token(tenant),
        method: 'tools/list',
      });
      expect(first.status).toBe(200);
      return servingNode(tenant);
    };

    it('keeps server-to-client requests, notifications and cancellation intact through a node that forwards', async () => {
      const owner = await ownerOf('features');
      const via = (owner + 1) % 3;
      const { client, inbox } = featureClient('far-client');
      const transport = new StreamableHTTPClientTransport(new URL(urlOf(via)), {
        requestInit: { headers: { Authorization: `Bearer ${await cluster.token('features')}` } },
      });
      await client.connect(transport);
      try {
        // The session lives on the owner, and says so.
        expect(transport.sessionId?.startsWith(`${cluster.nodeIds[owner]}.`)).toBe(true);
        const sampled = await client.callTool({ name: 'sample', arguments: { prompt: 'hello' } });
        expect(textOf(sampled)).toBe('far-client answers hello');
        await client.callTool({
          name: 'log',
          arguments: { levels: ['warning'], text: 'through a peer' },
        });
        await waitFor(() => inbox.logs.find((entry) => entry.data === 'through a peer'));
        const controller = new AbortController();
        const waiting = client.callTool({ name: 'wait', arguments: { ms: 30_000 } }, undefined, {
          signal: controller.signal,
        });
        const statsOf = async () =>
          JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as {
            aborted: number;
          };
        const before = (await statsOf()).aborted;
        controller.abort();
        await expect(waiting).rejects.toThrow();
        await waitFor(async () => ((await statsOf()).aborted > before ? true : undefined));
      } finally {
        await client.close();
      }
    });

    it('carries a 2026-07-28 input round through whichever nodes its requests reach', async () => {
      const owner = await ownerOf('rounds');
      const token = await cluster.token('rounds');
      const confirm = (index: number, params: Record<string, unknown>) =>
        statelessPost(urlOf(index), {
          token,
          method: 'tools/call',
          params: { name: 'confirm', arguments: {}, ...params },
          capabilities: { elicitation: {} },
        }) as Promise<{
          body: { result?: { requestState?: string; content?: { text: string }[] } };
        }>;
      const first = await confirm((owner + 1) % 3, {});
      expect(typeof first.body.result?.requestState).toBe('string');
      const done = await confirm((owner + 2) % 3, {
        inputResponses: { ok: { action: 'accept', content: { v: 'yes' } } },
        requestState: first.body.result?.requestState,
      });
      expect(done.body.result?.content?.[0]?.text).toBe('confirmed: yes (state ok)');
    });

    it('holds a quota exactly over the nodes', async () => {
      const answers: Answer[] = [];
      for (let i = 0; i < 15; i++)
        answers.push(await call(urlOf(i % 3), 'metered', 'data_get', { key: 'x' }));
      const refused = answers.filter((answer) => answer.body.error?.code === -30429);
      const served = answers.filter((answer) => answer.body.result !== undefined);
      expect(served).toHaveLength(10);
      expect(refused).toHaveLength(5);
    });

    it('makes a revocation count on every node within 2 s of `revoke` returning', async () => {
      const token = await cluster.token('globex', 'mallory');
      for (const index of [0, 1, 2]) {
        const answer = await statelessPost(urlOf(index), { token, method: 'tools/list' });
        expect(answer.status).toBe(200);
      }
      const revoked = runCli(['revoke', token, '-m', cluster.manifestPath]);
      expect(revoked.code, revoked.stderr).toBe(0);
      const returned = Date.now();
      for (const index of [0, 1, 2]) {
        await waitFor(
          async () => {
            const answer = await statelessPost(urlOf(index), { token, method: 'tools/list' });
            return answer.status === 401 ? true : undefined;
          },
          2_000,
          `the revocation on node ${index}`,
        );
      }
      expect(Date.now() - returned).toBeLessThan(2_000 + 500);
    });

    it('verifies the audit trail written by all nodes, and reports the whole cluster', async () => {
      const verified = runCli(['audit', 'verify', '-m', cluster.manifestPath]);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      interface Row {
        tenant: string;
        requests: number;
        errors: { quota: number };
        storage_mb: number | null;
      }
      // Every node's rows, once their batches are written (each node flushes on its own timer).
      const rows = await waitFor(
        () => {
          const report = runCli(['report', '--format', 'json', '-m', cluster.manifestPath]);
          expect(report.code, report.stderr).toBe(0);
          const tenants = (JSON.parse(report.stdout) as { tenants: Row[] }).tenants;
          return tenants.find((row) => row.tenant === 'metered')?.requests === 15
            ? tenants
            : undefined;
        },
        10_000,
        'the report to count every node',
      );
      expect(rows.find((row) => row.tenant === 'metered')?.errors.quota).toBe(5);
      // The built-in server's data lives in the store, and the report measures it there.
      expect(rows.find((row) => row.tenant === 'acme')?.storage_mb).toBeTypeOf('number');
    });

    it('moves a tenant to a live node when its owner is killed, losing no acknowledged write', async () => {
      const write = await call(urlOf(0), 'initech', 'data_set', {
        key: 'before',
        value: 'acknowledged',
      });
      expect(write.status).toBe(200);
      expect(write.body.result).toBeDefined();
      const victim = servingNode('initech');
      const owner = cluster.nodeIds[victim];
      const survivor = (victim + 1) % 3;
      const victimProcess = cluster.nodes[victim];
      const children = victimProcess?.childPids() ?? [];
      victimProcess?.process.kill('SIGKILL');
      // Its children see their stdin close and exit by themselves.
      expect(await waitGone(children, 10_000)).toEqual([]);
      const read = await waitFor(
        async () => {
          const answer = await call(urlOf(survivor), 'initech', 'data_get', { key: 'before' });
          return answer.body.result !== undefined ? answer : undefined;
        },
        2_000 + 10_000,
        'the takeover',
      );
      expect(textOf(read.body.result)).toContain('acknowledged');
      // A session of the dead node is unknown everywhere now: the client initializes again.
      const gone = await rawPost(
        urlOf(survivor),
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        {
          authorization: `Bearer ${await cluster.token('initech')}`,
          'mcp-session-id': `${owner}.00000000-0000-4000-8000-000000000000`,
          'mcp-protocol-version': '2025-11-25',
        },
      );
      expect(gone.status).toBe(404);
    }, 30_000);

    it('fences an owner that was only paused: a peer takes over, and the old owner stops its child when it wakes', async () => {
      const tenant = 'acme';
      const owner = await ownerOf(tenant);
      const survivor = [0, 1, 2].find((index) => index !== owner && running(index)) as number;
      const paused = cluster.nodes[owner];
      const childrenBefore = paused?.childPids() ?? [];
      expect(childrenBefore.length).toBeGreaterThan(0);
      paused?.process.kill('SIGSTOP');
      try {
        // The lease lapses (lease_ms 2 s); a live node takes the tenant and writes.
        const written = await waitFor(
          async () => {
            const answer = await call(urlOf(survivor), tenant, 'data_set', {
              key: 'after-pause',
              value: 'new owner',
            });
            return answer.body.result !== undefined &&
              !JSON.stringify(answer.body.result).includes('isError":true')
              ? answer
              : undefined;
          },
          12_000,
          'a takeover while the owner is paused',
        );
        expect(written.status).toBe(200);
      } finally {
        paused?.process.kill('SIGCONT');
      }
      // Awake, the old owner finds its lease ran out by its own clock and stops its child.
      expect(await waitGone(childrenBefore, 10_000)).toEqual([]);
      // Just woken, the old owner may refuse a first request while it learns
      // who holds the lease now; once it routes, it reads the new owner's write.
      const read = await waitFor(
        async () => {
          const answer = await call(urlOf(owner), tenant, 'data_get', { key: 'after-pause' });
          return answer.body.result !== undefined ? answer : undefined;
        },
        10_000,
        'a read through the woken node',
      );
      expect(textOf(read.body.result)).toContain('new owner');
    }, 40_000);

    it('runs --workers 2 on PostgreSQL as two nodes of one service', async () => {
      const workers = await createCluster({
        store: await postgres.createDatabase('workers'),
        size: 1,
        tenants: { acme: {} },
      });
      try {
        const serve = await workers.start(0, ['--workers', '2']);
        const token = await workers.token('acme');
        const set = await statelessPost(serve.url, {
          token,
          method: 'tools/call',
          params: { name: 'data_set', arguments: { key: 'w', value: 'two workers' } },
          headers: { connection: 'close' },
        });
        expect(set.status).toBe(200);
        for (let i = 0; i < 4; i++) {
          const read = (await statelessPost(serve.url, {
            token,
            method: 'tools/call',
            params: { name: 'data_get', arguments: { key: 'w' } },
            headers: { connection: 'close' },
          })) as Answer;
          expect(textOf(read.body.result)).toContain('two workers');
        }
        const listed = runCli(['nodes', '--json', '-m', workers.manifestPath]);
        const nodes = (
          JSON.parse(listed.stdout) as { nodes: { live: boolean; tenants: string[] }[] }
        ).nodes;
        expect(nodes.filter((node) => node.live)).toHaveLength(2);
        expect(nodes.flatMap((node) => node.tenants)).toEqual(['acme']);
      } finally {
        await workers.cleanup();
      }
    });
  },
);
