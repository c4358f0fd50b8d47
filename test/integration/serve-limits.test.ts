import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { detectHostLimits } from '../../src/process/limits/index.js';
import { cgroupFileOf } from '../helpers/cgroup.js';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  FIXTURES,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const MIB = 1024 * 1024;
const report = detectHostLimits();
const cgroupVersion = report.cgroup?.version;
const controllers =
  report.cgroup?.version === 2
    ? report.cgroup.controllers
    : Object.keys(report.cgroup?.trees ?? {});
/** Why the live-limits tests cannot run here; undefined when they can. */
const noLiveLimits =
  cgroupVersion === undefined
    ? `no cgroup here: ${report.unavailable.map((entry) => `${entry.layer}: ${entry.reason}`).join('; ')}`
    : !['memory', 'cpu', 'pids'].every((name) => controllers.includes(name))
      ? `the cgroup here lacks one of memory, cpu, pids (has ${controllers.join(', ')})`
      : report.prlimit === undefined
        ? 'no prlimit here to change the rlimits of a running process'
        : undefined;
const liveTitle = (title: string) => (noLiveLimits ? `${title} (skipped: ${noLiveLimits})` : title);
/** The control file of each limit, by cgroup version. */
const FILES = {
  memory: cgroupVersion === 2 ? 'memory.max' : 'memory.limit_in_bytes',
  cpu: cgroupVersion === 2 ? 'cpu.max' : 'cpu.cfs_quota_us',
};
/** A child that is not Node to the supervisor (its memory_mb sets no V8 heap cap): sh execs node. */
const shellFixture = (name: string) => ({
  command: '/bin/sh',
  args: ['-c', 'exec "$0" "$1"', process.execPath, `${FIXTURES}/${name}`],
});

interface TenantHealth {
  id: string;
  state: string;
  pid: number | null;
  crashes: number;
  last_crash: string | null;
  limits: { layers: string[]; enforcement: Record<string, string> } | null;
  rss_bytes: number | null;
}

interface Health {
  host_limits: { active: string[]; unavailable: { layer: string; reason: string }[] };
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
    return adminStatus<Health>((serve as ServeProcess).url, workspace as TestWorkspace);
  }

  async function tenantHealth(id: string): Promise<TenantHealth | undefined> {
    return (await health()).tenants.find((tenant) => tenant.id === id);
  }

  /** The tenants of the log lines with this message (the log is JSON lines). */
  function loggedFor(message: string): string[] {
    return (serve?.stderr() ?? '')
      .split('\n')
      .filter((line) => line.includes(message))
      .map((line) => String((JSON.parse(line) as { tenant?: string }).tenant));
  }

  it('reports the active layers at startup, on /admin/tenants, and per running child', async () => {
    workspace = createWorkspace({
      greedy: { ...fixture('greedy-server.mjs'), limits: { memory_mb: 128, cpu: 0.5, pids: 64 } },
    });
    serve = await startServe(workspace.manifestPath);
    expect(serve.stderr()).toMatch(/limits: .*watchdog/);
    const before = await health();
    expect(before.host_limits.active).toContain('watchdog');
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
    const started = await client.callTool({ name: 'spawn', arguments: { count: 60 } }).then(
      (result) => Number(textOf(result)),
      () => undefined,
    );
    // A pids cgroup makes fork fail inside the child; the watchdog kills the child instead.
    if (started !== undefined) expect(started).toBeLessThan(60);
    else expect((await health()).tenants[0]?.last_crash).toMatch(/pids/);
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

  it.skipIf(noLiveLimits)(
    liveTitle('applies changed cpu, pids, open_files and memory to the running children on reload'),
    async () => {
      workspace = createWorkspace({
        greedy: {
          ...fixture('greedy-server.mjs'),
          limits: { cpu: 0.5, pids: 64, open_files: 256 },
        },
        shell: { ...shellFixture('greedy-server.mjs'), limits: { memory_mb: 128 } },
      });
      serve = await startServe(workspace.manifestPath, ['--no-watch']);
      const greedy = await connectHttp(serve.url, await workspace.token('greedy'));
      const shell = await connectHttp(serve.url, await workspace.token('shell'));
      const greedyPid = Number(textOf(await greedy.callTool({ name: 'pid', arguments: {} })));
      const shellPid = Number(textOf(await shell.callTool({ name: 'pid', arguments: {} })));
      expect(cgroupFileOf(greedyPid, 'pids', 'pids.max')).toBe('64');

      // open_files goes down: raising a hard rlimit needs CAP_SYS_RESOURCE, which a
      // root in a container may lack (the child then restarts instead; see unit tests).
      workspace.rewrite({
        greedy: {
          ...fixture('greedy-server.mjs'),
          limits: { cpu: 1.5, pids: 48, open_files: 128 },
        },
        shell: { ...shellFixture('greedy-server.mjs'), limits: { memory_mb: 192 } },
      });
      serve.process.kill('SIGHUP');
      await waitFor(
        () => loggedFor('limits applied to the running child').length === 2 || undefined,
        5_000,
        'both live updates',
      );
      expect(serve.stderr()).toContain('cpu 0.5 -> 1.5, pids 64 -> 48, open_files 256 -> 128');
      expect(serve.stderr()).not.toContain('restarting when quiet');

      // Same processes, still serving.
      expect(Number(textOf(await greedy.callTool({ name: 'pid', arguments: {} })))).toBe(greedyPid);
      expect(Number(textOf(await shell.callTool({ name: 'pid', arguments: {} })))).toBe(shellPid);
      // The kernel holds the new values.
      expect(cgroupFileOf(greedyPid, 'cpu', FILES.cpu)).toBe(
        cgroupVersion === 2 ? '150000 100000' : '150000',
      );
      expect(cgroupFileOf(greedyPid, 'pids', 'pids.max')).toBe('48');
      expect(cgroupFileOf(shellPid, 'memory', FILES.memory)).toBe(String(192 * MIB));
      expect(readFileSync(`/proc/${greedyPid}/limits`, 'utf8')).toMatch(
        /Max open files\s+128\s+128\s/,
      );
      // And /admin/tenants says so.
      const greedyState = await tenantHealth('greedy');
      expect(greedyState).toMatchObject({ pid: greedyPid, crashes: 0 });
      expect(greedyState?.limits?.enforcement).toMatchObject({
        cpu: expect.stringContaining('150000'),
        pids: expect.stringContaining('pids.max 48'),
        open_files: 'RLIMIT_NOFILE 128',
      });
      const shellState = await tenantHealth('shell');
      expect(shellState?.pid).toBe(shellPid);
      expect(shellState?.limits?.enforcement.memory_mb).toContain('192 MiB');
      await greedy.close();
      await shell.close();
    },
  );

  it.skipIf(noLiveLimits)(
    liveTitle('applies changed limits to each per-session child too (isolation: session)'),
    async () => {
      const tenant = (pids: number) => ({
        solo: { ...fixture('greedy-server.mjs'), isolation: 'session' as const, limits: { pids } },
      });
      workspace = createWorkspace(tenant(64));
      serve = await startServe(workspace.manifestPath, ['--no-watch']);
      const token = await workspace.token('solo');
      const clients = [await connectHttp(serve.url, token), await connectHttp(serve.url, token)];
      const pids = await Promise.all(
        clients.map(async (client) =>
          Number(textOf(await client.callTool({ name: 'pid', arguments: {} }))),
        ),
      );
      expect(new Set(pids).size).toBe(2);

      workspace.rewrite(tenant(40));
      serve.process.kill('SIGHUP');
      await waitFor(
        () => loggedFor('limits applied to the running child').length === 2 || undefined,
        5_000,
        'a live update per child',
      );
      for (const [index, client] of clients.entries()) {
        const pid = pids[index] as number;
        expect(Number(textOf(await client.callTool({ name: 'pid', arguments: {} })))).toBe(pid);
        expect(cgroupFileOf(pid, 'pids', 'pids.max')).toBe('40');
        await client.close();
      }
    },
  );

  it.skipIf(noLiveLimits)(
    liveTitle('restarts a Node child when quiet for a new memory_mb (its V8 heap cap)'),
    async () => {
      workspace = createWorkspace({
        greedy: { ...fixture('greedy-server.mjs'), limits: { memory_mb: 128, cpu: 0.5 } },
      });
      serve = await startServe(workspace.manifestPath, ['--no-watch']);
      const client = await connectHttp(serve.url, await workspace.token('greedy'));
      const firstPid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));

      workspace.rewrite({
        greedy: { ...fixture('greedy-server.mjs'), limits: { memory_mb: 160, cpu: 1 } },
      });
      serve.process.kill('SIGHUP');
      await waitFor(
        () => loggedFor('limits change needs a restart').includes('greedy') || undefined,
        5_000,
        'the restart decision',
      );
      expect(serve.stderr()).toMatch(/V8 heap cap/);
      await waitFor(() => !isAlive(firstPid) || undefined, 10_000, 'the old child gone');

      // The same session goes on with a new child under the new limits.
      const secondPid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
      expect(secondPid).not.toBe(firstPid);
      expect(cgroupFileOf(secondPid, 'memory', FILES.memory)).toBe(String(160 * MIB));
      const state = await tenantHealth('greedy');
      expect(state).toMatchObject({ pid: secondPid, crashes: 0 });
      expect(state?.limits?.enforcement.memory_mb).toContain('160 MiB');
      await client.close();
    },
  );

  it.skipIf(noLiveLimits)(
    liveTitle('restarts a child when quiet rather than lower its memory under what it holds'),
    async () => {
      const tenant = (memoryMb: number) => ({
        shell: { ...shellFixture('greedy-server.mjs'), limits: { memory_mb: memoryMb } },
      });
      workspace = createWorkspace(tenant(256), { watchdog_interval_ms: 100 });
      serve = await startServe(workspace.manifestPath, ['--no-watch']);
      const client = await connectHttp(serve.url, await workspace.token('shell'));
      const firstPid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
      await client.callTool({ name: 'allocate', arguments: { mb: 96 } });
      await waitFor(
        async () => ((await health()).tenants[0]?.rss_bytes ?? 0) > 96 * MIB || undefined,
        5_000,
        'the watchdog to see the memory held',
      );

      workspace.rewrite(tenant(64));
      serve.process.kill('SIGHUP');
      await waitFor(
        () => loggedFor('limits change needs a restart').includes('shell') || undefined,
        5_000,
        'the restart decision',
      );
      expect(serve.stderr()).toMatch(/holds \d+ MiB now, over the new memory_mb 64/);
      await waitFor(() => !isAlive(firstPid) || undefined, 10_000, 'the old child gone');
      const secondPid = Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
      expect(cgroupFileOf(secondPid, 'memory', FILES.memory)).toBe(String(64 * MIB));
      expect((await tenantHealth('shell'))?.crashes).toBe(0);
      await client.close();
    },
  );

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
