import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Limits } from '../../src/core/config.js';
import { ChildLimits } from '../../src/process/child-limits.js';
import { writeLimitsV1 } from '../../src/process/limits/cgroup-v1.js';
import { writeLimitsV2 } from '../../src/process/limits/cgroup-v2.js';
import { describeChanges } from '../../src/process/limits/limits-change.js';
import { ownRlimit, prlimitChanges, setRlimitsOf } from '../../src/process/limits/live-rlimits.js';
import { TenantLimits } from '../../src/process/limits/tenant-limits.js';
import type { CgroupController, HostLimitsReport } from '../../src/process/limits/types.js';
import { type GroupTotals, Watchdog } from '../../src/process/limits/watchdog.js';

// Plain folders stand in for cgroup leaves: they show which file gets which
// value. (Real kernels: test/integration/serve-limits.)
const MIB = 1024 * 1024;
let root: string;
const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'limits-update-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function leavesV1(): Map<CgroupController, string> {
  const leaves = new Map<CgroupController, string>();
  for (const controller of ['memory', 'cpu', 'pids'] as const) {
    const dir = join(root, controller, 'leaf');
    mkdirSync(dir, { recursive: true });
    leaves.set(controller, dir);
  }
  return leaves;
}

/** A cgroup v1 host whose hierarchies are folders under `root`. */
function v1Report(prlimit?: string): HostLimitsReport {
  const trees = { memory: join(root, 'm'), cpu: join(root, 'c'), pids: join(root, 'p') };
  return {
    active: ['cgroup-v1', 'rlimits', 'watchdog'],
    unavailable: [],
    notes: [],
    cgroup: { version: 1, trees },
    prlimit,
  };
}

function prepared(limits: Limits, command: string, prlimit?: string): TenantLimits {
  const limitsOf = TenantLimits.prepare('acme', limits, v1Report(prlimit), { instance: 7 });
  limitsOf.wrap({ command, args: [], cwd: root, env: {} });
  return limitsOf;
}

/** A `prlimit` that writes its arguments to a file instead. */
function fakePrlimit(): { path: string; calls: () => string[] } {
  const path = join(root, 'prlimit');
  const log = join(root, 'prlimit.log');
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${log}'\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => readFileSync(log, 'utf8').trim().split('\n') };
}

describe('cgroup v1 writes, shared by create and update', () => {
  it('writes set limits and the unlimited value of those removed', () => {
    const leaves = leavesV1();
    const memory = leaves.get('memory') as string;
    const cpu = leaves.get('cpu') as string;
    const pids = leaves.get('pids') as string;
    expect(writeLimitsV1(leaves, { memory_mb: 64, cpu: 1.5, pids: 32 })).toEqual({
      memory: 'memory.limit_in_bytes 64 MiB',
      cpu: 'cpu.cfs_quota_us 150000 per 100000',
      pids: 'pids.max 32',
    });
    expect(read(memory, 'memory.limit_in_bytes')).toBe(String(64 * MIB));
    expect(read(cpu, 'cpu.cfs_quota_us')).toBe('150000');
    expect(read(cpu, 'cpu.cfs_period_us')).toBe('100000');
    expect(read(pids, 'pids.max')).toBe('32');

    expect(writeLimitsV1(leaves, { cpu: 0.5 })).toEqual({
      cpu: 'cpu.cfs_quota_us 50000 per 100000',
    });
    expect(read(memory, 'memory.limit_in_bytes')).toBe('-1');
    expect(read(cpu, 'cpu.cfs_quota_us')).toBe('50000');
    expect(read(pids, 'pids.max')).toBe('max');

    writeLimitsV1(leaves, {});
    expect(read(cpu, 'cpu.cfs_quota_us')).toBe('-1');
  });

  it('names the file and value the kernel refused', () => {
    const leaves = leavesV1();
    // A folder where the control file should be: the write fails, as EBUSY would.
    mkdirSync(join(leaves.get('memory') as string, 'memory.limit_in_bytes'));
    expect(() => writeLimitsV1(leaves, { memory_mb: 64 })).toThrow(
      /memory\.limit_in_bytes refused "67108864" \(EISDIR\)/,
    );
  });
});

describe('cgroup v2 writes, shared by create and update', () => {
  it('writes memory.max, oom.group and swap where offered; max when removed', () => {
    const dir = join(root, 'leaf');
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.swap.max'), 'max');
    const controllers = ['memory', 'cpu', 'pids'] as const;
    expect(writeLimitsV2(dir, controllers, { memory_mb: 64, cpu: 0.2, pids: 32 })).toEqual({
      memory: 'memory.max 64 MiB',
      cpu: 'cpu.max "20000 100000"',
      pids: 'pids.max 32',
    });
    expect(read(dir, 'memory.max')).toBe(String(64 * MIB));
    expect(read(dir, 'memory.oom.group')).toBe('1');
    expect(read(dir, 'memory.swap.max')).toBe('0');
    expect(read(dir, 'cpu.max')).toBe('20000 100000');

    expect(writeLimitsV2(dir, controllers, { pids: 8 })).toEqual({ pids: 'pids.max 8' });
    expect(read(dir, 'memory.max')).toBe('max');
    expect(read(dir, 'memory.swap.max')).toBe('max');
    expect(read(dir, 'cpu.max')).toBe('max 100000');
    expect(read(dir, 'pids.max')).toBe('8');
  });

  it('leaves alone the controllers the leaf does not have', () => {
    const dir = join(root, 'leaf');
    mkdirSync(dir);
    expect(writeLimitsV2(dir, ['pids'], { memory_mb: 64, pids: 4 })).toEqual({
      pids: 'pids.max 4',
    });
    expect(() => read(dir, 'memory.max')).toThrow(/ENOENT/);
  });
});

describe('rlimits of a running process', () => {
  it('builds prlimit options for what changed; a removed limit returns to the supervisor’s', () => {
    const own = (resource: string) => (resource === 'nofile' ? '4096:8192' : 'unlimited:unlimited');
    const nofile = (value: number) => ({ resource: 'nofile' as const, value });
    expect(prlimitChanges([nofile(64)], [nofile(64)], own)).toEqual([]);
    expect(prlimitChanges([nofile(64)], [nofile(128)], own)).toEqual(['--nofile=128:128']);
    expect(prlimitChanges([nofile(64)], [], own)).toEqual(['--nofile=4096:8192']);
    expect(prlimitChanges([], [{ resource: 'data', value: MIB }], own)).toEqual([
      `--data=${MIB}:${MIB}`,
    ]);
    expect(prlimitChanges([{ resource: 'data', value: MIB }], [], own)).toEqual([
      '--data=unlimited:unlimited',
    ]);
  });

  it('reads the supervisor’s own limits from /proc/self/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max data size             unlimited            unlimited            bytes     ',
      'Max open files            1024                 524288               files     ',
    ].join('\n');
    expect(ownRlimit('nofile', text)).toBe('1024:524288');
    expect(ownRlimit('data', text)).toBe('unlimited:unlimited');
    expect(ownRlimit('nofile', '')).toBeUndefined();
  });
});

describe('TenantLimits.update (fake cgroup v1 tree)', () => {
  it('rewrites the cgroup of the running child and reports the new limits', async () => {
    const limits = prepared({ memory_mb: 64, cpu: 0.5, pids: 32 }, '/usr/bin/my-server');
    const [memory, cpu, pids] = limits.folders as [string, string, string];
    await limits.update({ memory_mb: 128, cpu: 1, pids: 16 }, process.pid);
    expect(read(memory, 'memory.limit_in_bytes')).toBe(String(128 * MIB));
    expect(read(cpu, 'cpu.cfs_quota_us')).toBe('100000');
    expect(read(pids, 'pids.max')).toBe('16');
    expect(limits.limits).toEqual({ memory_mb: 128, cpu: 1, pids: 16 });
    expect(limits.enforcement).toMatchObject({
      memory_mb: 'cgroup-v1 memory.limit_in_bytes 128 MiB',
      cpu: 'cgroup-v1 cpu.cfs_quota_us 100000 per 100000',
      pids: 'cgroup-v1 pids.max 16',
    });
  });

  it('changes rlimits with prlimit --pid, on the child and the rest of its cgroup', async () => {
    const prlimit = fakePrlimit();
    const limits = prepared({ open_files: 64 }, '/usr/bin/my-server', prlimit.path);
    writeFileSync(join(limits.folders[0] as string, 'cgroup.procs'), '4242\n4343\n');
    await limits.update({ open_files: 256 }, 4242);
    expect(prlimit.calls()).toEqual(['--pid 4242 --nofile=256:256', '--pid 4343 --nofile=256:256']);
    expect(limits.enforcement.open_files).toBe('RLIMIT_NOFILE 256');
  });

  it('names the process and prlimit’s reason when it refuses; a process gone needs none', async () => {
    const script = (name: string, body: string): string => {
      const path = join(root, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const denied = script(
      'denied',
      'echo "prlimit: failed to set the NOFILE resource limit: Operation not permitted" >&2; exit 1',
    );
    const silent = script('silent', 'exit 3');
    const args = ['--nofile=256:256'];
    await expect(setRlimitsOf(denied, [process.pid], args)).rejects.toThrow(
      `prlimit --nofile=256:256 on process ${process.pid}: prlimit: failed to set the NOFILE resource limit: Operation not permitted (raising a hard limit, or changing a child of another user, needs CAP_SYS_RESOURCE)`,
    );
    await expect(setRlimitsOf(silent, [process.pid], args)).rejects.toThrow(
      /on process \d+: Command failed with exit code 3: \S+silent --pid/,
    );
    await expect(setRlimitsOf(join(root, 'missing'), [process.pid], args)).rejects.toThrow(
      /Command failed with ENOENT/,
    );
    // Above any pid_max: no such process.
    await expect(setRlimitsOf(silent, [2 ** 22 + 1], args)).resolves.toBeUndefined();
  });

  it('refuses, saying why, what only a restart can apply', async () => {
    const cases: [Limits, Limits, string, RegExp, { rssBytes: number; pids: number }?][] = [
      [{ memory_mb: 64 }, { memory_mb: 96 }, process.execPath, /V8 heap cap/],
      [{ open_files: 64 }, { open_files: 128 }, '/usr/bin/my-server', /no prlimit/],
      [
        { memory_mb: 128 },
        { memory_mb: 64 },
        '/usr/bin/my-server',
        /holds 100 MiB now/,
        { rssBytes: 100 * MIB, pids: 4 },
      ],
      [{ pids: 64 }, { pids: 8 }, '/usr/bin/my-server', /runs 12 tasks/, { rssBytes: 0, pids: 12 }],
      // Without a cpu limit the child joined no cpu cgroup (a scheduling group of its own).
      [{ pids: 64 }, { pids: 64, cpu: 1 }, '/usr/bin/my-server', /cpu cgroup, which it joins/],
    ];
    for (const [before, after, command, reason, usage] of cases) {
      const limits = prepared(before, command);
      expect(await limits.update(after, process.pid, usage)).toMatch(reason);
      expect(limits.limits).toEqual(before);
    }
  });

  it('applies to a Node child what its heap cap does not depend on', async () => {
    const limits = prepared({ memory_mb: 64, cpu: 0.5 }, process.execPath);
    await limits.update({ memory_mb: 64, cpu: 2 }, process.pid);
    expect(read(limits.folders[1] as string, 'cpu.cfs_quota_us')).toBe('200000');
  });

  it('turns a refused cgroup write into a restart', async () => {
    const limits = prepared({ pids: 32 }, '/usr/bin/my-server');
    // memory and pids: no cpu cgroup without a cpu limit.
    const pids = limits.folders[1] as string;
    rmSync(join(pids, 'pids.max'));
    mkdirSync(join(pids, 'pids.max'));
    expect(await limits.update({ pids: 64 }, process.pid)).toMatch(/pids\.max refused "64"/);
  });
});

describe('ChildLimits.update', () => {
  it('applies live, then the watchdog judges by the new limits; says when it cannot', async () => {
    const totals = new Map<number, GroupTotals>([
      [4242, { rssBytes: 50 * MIB, cpuSeconds: 0, pids: 6, processes: 1 }],
    ]);
    const watchdog = new Watchdog({ intervalMs: 60_000, sampler: () => new Map(totals) });
    const child = ChildLimits.prepare({ report: v1Report(), watchdog }, 'acme', { pids: 32 });
    child.wrap({ command: process.execPath, args: [], cwd: root, env: {} });
    const violations: string[] = [];
    child.watchChild(4242, {
      onViolation: (violation) => violations.push(violation.kind),
      onSample: () => {},
    });
    try {
      expect(await child.update({ pids: 32 }, 4242)).toEqual({ kind: 'none' });
      expect(await child.update({ pids: 16 }, 4242)).toEqual({
        kind: 'applied',
        changes: 'pids 32 -> 16',
      });
      expect(child.status.enforcement).toMatchObject({ pids: 'cgroup-v1 pids.max 16' });
      expect(await child.update({ pids: 16, cpu: 1 }, 4242)).toMatchObject({
        kind: 'restart',
        reason: expect.stringMatching(/cpu cgroup/),
      });
      expect(await child.update({ pids: 16, memory_mb: 256 }, 4242)).toMatchObject({
        kind: 'restart',
        reason: expect.stringMatching(/V8 heap cap/),
      });
      expect(child.status.enforcement.memory_mb).toBeUndefined();
      expect(describeChanges({ pids: 16 }, { pids: 16, memory_mb: 256 })).toBe(
        'memory_mb none -> 256',
      );
    } finally {
      child.stopWatching();
    }
    expect(violations).toEqual([]);
  });
});
