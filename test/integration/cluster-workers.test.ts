import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, rawSession, statelessPost, textOf } from '../helpers/mcp-client.js';
import { descendants, isAlive, waitFor, waitGone } from '../helpers/processes.js';
import {
  createWorkspace,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** `serve --workers 2` on the embedded store: two processes, one port, one service. */
describe('serve --workers', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;
  afterEach(async () => {
    await serve?.stop();
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  function nodesOf(stdout: string): string[] {
    const line = /workers: 2 \(nodes ([^)]+)\)/.exec(stdout);
    return line?.[1]?.split(', ') ?? [];
  }

  it('serves every request on one port whichever worker takes the connection', async () => {
    workspace = createWorkspace({ acme: {}, globex: {} });
    serve = await startServe(workspace.manifestPath, ['--workers', '2']);
    const nodes = nodesOf(serve.stdout());
    expect(nodes).toHaveLength(2);
    const token = await workspace.token('acme');
    // Sessions: each new connection may land on either worker; all are served by the owner.
    const sessions = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(() => rawSession(serve?.url ?? '', token)),
    );
    const owners = new Set(sessions.map((id) => id.split('.')[0]));
    expect(owners.size).toBe(1);
    expect(nodes).toContain([...owners][0]);
    // Data written through one session is read through a stateless request on a fresh connection.
    const client = await connectHttp(serve.url, token);
    try {
      await client.callTool({ name: 'data_set', arguments: { key: 'k', value: 'from a worker' } });
    } finally {
      await client.close();
    }
    for (let i = 0; i < 4; i++) {
      const read = await statelessPost(serve.url, {
        token,
        method: 'tools/call',
        params: { name: 'data_get', arguments: { key: 'k' } },
        headers: { connection: 'close' },
      });
      expect(read.status).toBe(200);
      expect(textOf((read.body as { result: unknown }).result)).toContain('from a worker');
    }
    // The operator's view names the node that serves each tenant, whichever worker answers
    // (`tenants` opens a connection of its own each time), once that worker's view of the
    // leases has caught up: within a third of lease_ms.
    const ws = workspace;
    const ownerSeen = () => {
      const listed = runCli([
        'tenants',
        '--json',
        '-m',
        ws.manifestPath,
        '--url',
        serve?.url.replace(/\/mcp$/, '') ?? '',
      ]);
      expect(listed.code).toBe(0);
      const tenants = (
        JSON.parse(listed.stdout) as { tenants: { id: string; node?: string | null }[] }
      ).tenants;
      return tenants.find((tenant) => tenant.id === 'acme')?.node;
    };
    await waitFor(
      () => (ownerSeen() === [...owners][0] ? true : undefined),
      10_000,
      'the owner named',
    );
    // Each node labels its own /metrics.
    const metrics = await fetch(serve.url.replace(/\/mcp$/, '/metrics'), {
      headers: { authorization: `Bearer ${await workspace.operatorToken()}` },
    });
    expect(metrics.status).toBe(200);
    const labelled = /node="([a-z0-9-]+)"/.exec(await metrics.text());
    expect(nodes).toContain(labelled?.[1]);
  });

  it('leaves no worker and no child behind when the primary is killed with SIGKILL', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath, ['--workers', '2']);
    const token = await workspace.token('acme');
    await rawSession(serve.url, token);
    const tree = await waitFor(() => {
      const pids = serve?.childPids() ?? [];
      // Two workers and the tenant's child (with whatever wraps it).
      return pids.length >= 3 ? pids : undefined;
    });
    serve.process.kill('SIGKILL');
    expect(await waitGone(tree, 10_000)).toEqual([]);
    expect(isAlive(serve.process.pid as number)).toBe(false);
    expect(descendants(serve.process.pid as number)).toEqual([]);
  });
});
