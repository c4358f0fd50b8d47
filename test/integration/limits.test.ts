import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Limits } from '../../src/core/config.js';
import type { SpawnPlan } from '../../src/process/child-process.js';
import {
  cleanupStale,
  detectHostLimits,
  type HostLimitsReport,
  type LimitLayer,
  TenantLimits,
  type Violation,
  Watchdog,
} from '../../src/process/limits/index.js';
import { readStat } from '../../src/process/limits/proc-stats.js';
import { isAlive, waitFor, waitGone } from '../helpers/processes.js';

const report = detectHostLimits();
const cgroupLayer = report.active.find((layer) => layer.startsWith('cgroup'));
const controllers =
  report.cgroup?.version === 2
    ? report.cgroup.controllers
    : Object.keys(report.cgroup?.trees ?? {});
const noCgroup = (controller: string) =>
  cgroupLayer === undefined || (controller !== 'any' && !controllers.includes(controller));
/** A test title that says why it is skipped on this host. */
const needing = (controller: string, title: string) =>
  noCgroup(controller)
    ? `${title} (skipped: no ${controller} cgroup here: ${report.unavailable.map((entry) => `${entry.layer}: ${entry.reason}`).join('; ')})`
    : title;
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** The report with only the given layers, to take a weaker path on purpose. */
function only(...layers: LimitLayer[]): HostLimitsReport {
  return { ...report, active: report.active.filter((layer) => layers.includes(layer)) };
}

interface Started {
  pid: number;
  exited: Promise<{ code: number | null; signal: string | null }>;
  stdout: () => string;
  stderr: () => string;
  waitStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

const started: Started[] = [];
const prepared: TenantLimits[] = [];
const watchdogs: Watchdog[] = [];
const extraPids: number[] = [];

/** Starts a plan the way ChildProcess does: detached, so it leads its own group. */
function start(plan: SpawnPlan): Started {
  const child = spawn(plan.command, plan.args, {
    cwd: plan.cwd,
    env: plan.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error(`cannot start ${plan.command}`);
  const handle: Started = {
    pid: child.pid,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitStderr: (pattern, timeoutMs = 5_000) =>
      waitFor(() => pattern.exec(err) ?? undefined, timeoutMs, `${pattern} on stderr:\n${err}`),
  };
  started.push(handle);
  return handle;
}

function plan(command: string, args: string[] = []): SpawnPlan {
  return { command, args, cwd: tmpdir(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } };
}

function prepare(limits: Limits, from: HostLimitsReport = report, instance?: number): TenantLimits {
  const limitsOf = TenantLimits.prepare('acme', limits, from, instance ? { instance } : {});
  prepared.push(limitsOf);
  return limitsOf;
}

function cpuSecondsOf(pid: number): number {
  const stat = readStat(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return (stat.utime + stat.stime) / 100;
}

/** CPU use of `pid` in cores over a window. */
async function coresOver(pid: number, windowMs: number): Promise<number> {
  const before = cpuSecondsOf(pid);
  const startedAt = Date.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  return (cpuSecondsOf(pid) - before) / ((Date.now() - startedAt) / 1000);
}

afterEach(async () => {
  for (const watchdog of watchdogs.splice(0)) watchdog.stop();
  const pids = [...extraPids.splice(0)];
  for (const child of started.splice(0)) {
    pids.push(child.pid);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Group gone.
    }
    await child.exited;
  }
  for (const limits of prepared.splice(0)) {
    limits.killAll();
    const folders = limits.folders;
    expect(await limits.release()).toBe(true);
    for (const folder of folders) expect(existsSync(folder)).toBe(false);
  }
  expect(await waitGone(pids)).toEqual([]);
});

describe('detectHostLimits', () => {
  it('names every layer as active or unavailable with a reason', () => {
    const layers: LimitLayer[] = ['cgroup-v2', 'cgroup-v1', 'rlimits', 'watchdog'];
    const missing = report.unavailable.map((entry) => entry.layer);
    expect([...report.active, ...missing].sort()).toEqual([...layers].sort());
    for (const entry of report.unavailable) expect(entry.reason.length).toBeGreaterThan(10);
    expect(report.active).toContain('watchdog');
    expect(report.active).toContain('rlimits');
    expect(detectHostLimits()).toBe(report);
  });
});

describe('cgroup limits', () => {
  it.skipIf(noCgroup('memory'))(
    needing('memory', 'kills a memory hog over memory_mb'),
    async () => {
      const limits = prepare({ memory_mb: 64 });
      const child = start(
        limits.wrap(plan(process.execPath, [fixture('memory-hog.mjs'), '16', '512'])),
      );
      await child.waitStderr(/memory-hog: ready/);
      expect(limits.members()).toContain(child.pid);
      const exit = await child.exited;
      expect(exit.signal).toBe('SIGKILL');
      expect(child.stderr()).not.toMatch(/holding/);
      expect(limits.oomKills()).toBeGreaterThanOrEqual(1);
    },
  );

  it.skipIf(noCgroup('cpu'))(needing('cpu', 'holds a cpu hog to cpu: 0.2 cores'), async () => {
    const limits = prepare({ cpu: 0.2 });
    expect(limits.cpuEnforcedByKernel).toBe(true);
    const child = start(limits.wrap(plan(process.execPath, [fixture('cpu-hog.mjs')])));
    await child.waitStderr(/cpu-hog: ready/);
    const cores = await coresOver(child.pid, 2_000);
    expect(cores).toBeGreaterThan(0.1);
    expect(cores).toBeLessThan(0.35);
  });

  it.skipIf(noCgroup('pids'))(needing('pids', 'contains a fork bomb within pids'), async () => {
    const limits = prepare({ pids: 32 });
    const child = start(limits.wrap(plan(process.execPath, [fixture('fork-bomb.mjs'), '200'])));
    const [, count] = await child.waitStderr(/fork-bomb: spawned (\d+)/);
    expect(Number(count)).toBeGreaterThan(0);
    expect(Number(count)).toBeLessThan(32);
    const members = limits.members() ?? [];
    expect(members.length).toBe(Number(count) + 1);
    extraPids.push(...members);
  });

  it.skipIf(noCgroup('any'))(
    needing(
      'any',
      'killAll kills a grandchild that left the process group; release removes the folder',
    ),
    async () => {
      const limits = prepare({});
      expect(limits.folders.length).toBeGreaterThan(0);
      const child = start(limits.wrap(plan(process.execPath, [fixture('npx-wrapper.mjs')])));
      const [, grandchild] = await child.waitStderr(/npx-wrapper: grandchild (\d+)/);
      const pid = Number(grandchild);
      extraPids.push(pid);
      process.kill(-child.pid, 'SIGKILL');
      await child.exited;
      // The group kill missed it: it runs in its own session.
      expect(isAlive(pid)).toBe(true);
      expect(limits.members()).toEqual([pid]);
      limits.killAll();
      expect(await waitGone([pid])).toEqual([]);
      const folders = limits.folders;
      expect(await limits.release()).toBe(true);
      for (const folder of folders) expect(existsSync(folder)).toBe(false);
    },
  );

  it.skipIf(noCgroup('any'))(
    needing(
      'any',
      'cleanupStale removes the folders of a supervisor that is gone, and kills what is in them',
    ),
    async () => {
      const gone = start(plan('/bin/sh', ['-c', 'exit 0']));
      await gone.exited;
      const stale = TenantLimits.prepare('acme', {}, report, { instance: gone.pid });
      const sleeper = start(stale.wrap(plan('sleep', ['600'])));
      await waitFor(() => stale.members()?.includes(sleeper.pid), 5_000, 'sleeper joined');
      const mine = prepare({});
      await cleanupStale(report.cgroup);
      // A supervisor another test file starts meanwhile sweeps the same tree
      // and may remove them first: what counts is that they are gone.
      for (const folder of stale.folders) expect(existsSync(folder), folder).toBe(false);
      expect(await sleeper.exited).toEqual({ code: null, signal: 'SIGKILL' });
      for (const folder of mine.folders) expect(existsSync(folder)).toBe(true);
    },
  );
});

describe('rlimits', () => {
  it.each([
    ['prlimit', report.prlimit],
    ['the shell ulimit', undefined],
  ])('applies open_files and RLIMIT_DATA with %s', async (_, prlimit) => {
    if (_ === 'prlimit' && prlimit === undefined) return;
    const limits = prepare({ open_files: 64, memory_mb: 100 }, { ...only('rlimits'), prlimit });
    expect(limits.layers).toEqual(['rlimits']);
    const child = start(limits.wrap(plan('cat', ['/proc/self/limits'])));
    expect((await child.exited).code).toBe(0);
    expect(child.stdout()).toMatch(/Max open files\s+64\s+64\s/);
    expect(child.stdout()).toMatch(
      new RegExp(`Max data size\\s+${100 * 1024 * 1024}\\s+${100 * 1024 * 1024}\\s`),
    );
  });

  it('stops a Node memory hog with RLIMIT_DATA when no cgroup caps memory', async () => {
    const limits = prepare({ memory_mb: 64 }, only('rlimits'));
    const child = start(
      limits.wrap(plan(process.execPath, [fixture('memory-hog.mjs'), '8', '512'])),
    );
    const exit = await child.exited;
    expect(exit.code ?? exit.signal).not.toBe(0);
    const most = Math.max(
      ...[...child.stderr().matchAll(/memory-hog: (\d+) MiB/g)].map((m) => Number(m[1])),
    );
    expect(most).toBeLessThanOrEqual(64);
  });

  it('passes paths and argv as data, never as script text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'limits-wrap-'));
    try {
      const odd = join(dir, 'a "b" $(touch pwned) `x`');
      const limits = prepare({ open_files: 32 }, only('rlimits'));
      const child = start(
        limits.wrap(plan('/bin/sh', ['-c', 'printf %s "$1" > "$2"', 'sh', '$(touch pwned2)', odd])),
      );
      expect((await child.exited).code).toBe(0);
      expect(readFileSync(odd, 'utf8')).toBe('$(touch pwned2)');
      expect(existsSync(join(tmpdir(), 'pwned'))).toBe(false);
      expect(existsSync(join(tmpdir(), 'pwned2'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing program as exit code 127', async () => {
    const limits = prepare({ open_files: 32 }, only('rlimits'));
    const child = start(limits.wrap(plan('no-such-program-mcp-tenants')));
    expect((await child.exited).code).toBe(127);
  });
});

describe('watchdog', () => {
  it('reports a memory hog over memory_mb from its group RSS', async () => {
    const watchdog = new Watchdog({ intervalMs: 50 });
    watchdogs.push(watchdog);
    const limits = prepare({ memory_mb: 64 }, only('watchdog'));
    const child = start(
      limits.wrap(plan(process.execPath, [fixture('memory-hog.mjs'), '16', '512'])),
    );
    const violations: Violation[] = [];
    watchdog.watch(child.pid, limits.limits, {
      cpuEnforcedByKernel: false,
      onViolation: (violation) => {
        violations.push(violation);
        process.kill(-child.pid, 'SIGKILL');
      },
    });
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({
      kind: 'memory',
      pgid: child.pid,
      limitBytes: 64 * 1024 * 1024,
    });
    expect(violations[0]?.kind === 'memory' && violations[0].rssBytes).toBeGreaterThan(
      64 * 1024 * 1024,
    );
  });

  it('throttles a cpu hog without a cgroup and reports its use', async () => {
    const watchdog = new Watchdog({ intervalMs: 200 });
    watchdogs.push(watchdog);
    const limits = prepare({ cpu: 0.2 }, only('watchdog'));
    expect(limits.cpuEnforcedByKernel).toBe(false);
    const child = start(limits.wrap(plan(process.execPath, [fixture('cpu-hog.mjs')])));
    await child.waitStderr(/cpu-hog: ready/);
    const violations: Violation[] = [];
    const handle = watchdog.watch(child.pid, limits.limits, {
      cpuEnforcedByKernel: false,
      onViolation: (violation) => violations.push(violation),
    });
    await waitFor(() => violations.length > 0 || undefined, 5_000, 'a cpu violation');
    expect(violations[0]).toMatchObject({ kind: 'cpu', limitCores: 0.2, action: 'throttle' });
    expect(violations[0]?.kind === 'cpu' && violations[0].cores).toBeGreaterThan(0.5);
    const cores = await coresOver(child.pid, 1_500);
    expect(cores).toBeLessThan(0.5);
    expect(handle.latest()?.duty).toBeLessThan(1);
    expect(handle.latest()?.pids).toBeGreaterThan(0);
    handle.stop();
    handle.stop();
    // Stopping the watch lets the group run again.
    expect(readStat(child.pid)?.state).not.toBe('T');
  });
});
