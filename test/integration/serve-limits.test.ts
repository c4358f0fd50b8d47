import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface TenantHealth {
  id: string;
  state: string;
  pid: number | null;
  crashes: number;
  last_crash: string | null;
  limits: { layers: string[]; enforcement: Record<string, string> } | null;
}

interface Health {
  isolation: { active: string[]; unavailable: { layer: string; reason: string }[] };
  tenants: TenantHealth[];
}

describe('serve: resource limits per tenant', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  async function health(): Promise<Health> {
    const response = await fetch((serve as ServeProcess).url.replace('/mcp', '/healthz'));
    return (await response.json()) as Health;
  }

  it('reports the active layers at startup, on /healthz, and per running child', async () => {
    workspace = createWorkspace({
      greedy: { ...fixture('greedy-server.mjs'), limits: { memory_mb: 128, cpu: 0.5, pids: 64 } },
    });
    serve = await startServe(workspace.manifestPath);
    expect(serve.stderr()).toMatch(/limits: .*watchdog/);
    const before = await health();
    expect(before.isolation.active).toContain('watchdog');
    expect(before.tenants[0]?.limits).toBeNull();

    const client = await connectHttp(serve.url, await workspace.token('greedy'));
    await client.callTool({ name: 'pid', arguments: {} });
    const running = (await health()).tenants[0];
    expect(running?.limits?.layers).toContain('watchdog');
    expect(Object.keys(running?.limits?.enforcement ?? {})).toEqual(
      expect.arrayContaining(['memory_mb', 'cpu', 'pids']),
    );
    await client.close();
  });

  it('kills and restarts a tenant over its memory limit; its neighbour never notices', async () => {
    workspace = createWorkspace({
      greedy: { ...fixture('greedy-server.mjs'), limits: { memory_mb: 96 } },
      acme: {},
    });
    serve = await startServe(workspace.manifestPath);
    const greedy = await connectHttp(serve.url, await workspace.token('greedy'));
    const acme = await connectHttp(serve.url, await workspace.token('acme'));
    const firstPid = textOf(await greedy.callTool({ name: 'pid', arguments: {} }));

    // Grows in steps, so the watchdog (or the kernel) sees it over the limit.
    let failure: unknown;
    for (let step = 0; step < 40 && failure === undefined; step += 1) {
      await greedy.callTool({ name: 'allocate', arguments: { mb: 16 } }).then(
        (result) => {
          if (result.isError) failure = result;
        },
        (error: unknown) => {
          failure = error;
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const state = (await health()).tenants.find((tenant) => tenant.id === 'greedy');
      if (state && state.crashes > 0) failure ??= state.last_crash;
    }
    expect(failure).toBeDefined();
    const greedyState = (await health()).tenants.find((tenant) => tenant.id === 'greedy');
    expect(greedyState?.crashes).toBe(1);
    expect(greedyState?.last_crash).toMatch(/memory/);

    // The same session goes on with a fresh child.
    const secondPid = textOf(await greedy.callTool({ name: 'pid', arguments: {} }));
    expect(secondPid).not.toBe(firstPid);
    const written = await acme.callTool({
      name: 'data_set',
      arguments: { key: 'k', value: 'still here' },
    });
    expect(written.isError).toBeFalsy();
    await greedy.close();
    await acme.close();
  });

  it('holds a fork bomb to its pids limit and leaves none of its processes behind', async () => {
    workspace = createWorkspace({
      bomb: { ...fixture('greedy-server.mjs'), limits: { pids: 24 } },
    });
    serve = await startServe(workspace.manifestPath);
    const client = await connectHttp(serve.url, await workspace.token('bomb'));
    const outcome = await client.callTool({ name: 'spawn', arguments: { count: 60 } }).then(
      (result) => (result.isError ? 'refused' : Number(textOf(result))),
      () => 'killed',
    );
    // A pids cgroup makes fork fail inside the child; the watchdog kills the child instead.
    if (typeof outcome === 'number') expect(outcome).toBeLessThan(60);
    else expect(outcome).toMatch(/refused|killed/);
    await client.close().catch(() => {});
  });

  it('stops the real server behind an npx-style launcher when the launcher dies', async () => {
    workspace = createWorkspace({ wrapped: fixture('launcher.mjs') });
    serve = await startServe(workspace.manifestPath);
    const client = await connectHttp(serve.url, await workspace.token('wrapped'));
    const realServer = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
    const launcher = (await health()).tenants[0]?.pid;
    expect(launcher).toBeTypeOf('number');
    expect(realServer).not.toBe(launcher);
    process.kill(launcher as number, 'SIGKILL');
    await waitFor(() => !isAlive(realServer) || undefined, 5_000, 'real server gone');
    await client.close();
  });

  it('names a missing command clearly', async () => {
    workspace = createWorkspace({
      missing: { command: '/nonexistent/mcp-server', limits: { memory_mb: 64 } },
    });
    serve = await startServe(workspace.manifestPath);
    const response = await rawPost(serve.url, INITIALIZE, {
      authorization: `Bearer ${await workspace.token('missing')}`,
    });
    expect(response.status).toBe(503);
    expect(JSON.stringify(response.body)).toMatch(/not found|cannot start/);
  });
});
