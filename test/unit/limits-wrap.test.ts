import { describe, expect, it } from 'vitest';
import type { SpawnPlan } from '../../src/process/child-process.js';
import { NODE_MIN_DATA_BYTES, rlimitsFor } from '../../src/process/limits/rlimits.js';
import {
  LIMITS_ARGV0,
  LIMITS_SCRIPT,
  withNodeHeapCap,
  wrapPlan,
} from '../../src/process/limits/wrap.js';

const MIB = 1024 * 1024;
const base: SpawnPlan = {
  command: 'my-server',
  args: ['--x', 'a b'],
  cwd: '/data/acme',
  env: { PATH: '/bin' },
};

describe('rlimitsFor', () => {
  it('caps open files always and data only without a memory cgroup', () => {
    expect(rlimitsFor({ open_files: 64, memory_mb: 100 }, 'my-server', false)).toEqual([
      { resource: 'nofile', value: 64 },
      { resource: 'data', value: 100 * MIB },
    ]);
    expect(rlimitsFor({ open_files: 64, memory_mb: 100 }, 'my-server', true)).toEqual([
      { resource: 'nofile', value: 64 },
    ]);
    expect(rlimitsFor({ pids: 10, cpu: 1 }, 'my-server', false)).toEqual([]);
  });

  it('never gives a Node child less data than it needs to start', () => {
    expect(rlimitsFor({ memory_mb: 32 }, process.execPath, false)).toEqual([
      { resource: 'data', value: NODE_MIN_DATA_BYTES },
    ]);
    expect(rlimitsFor({ memory_mb: 32 }, '/usr/bin/npx', false)[0]?.value).toBe(
      NODE_MIN_DATA_BYTES,
    );
  });
});

describe('wrapPlan', () => {
  it('leaves a plan with nothing to apply alone', () => {
    expect(wrapPlan(base, { procsFiles: [], rlimits: [] })).toBe(base);
  });

  it('joins cgroups, then execs the program with prlimit, all as arguments', () => {
    const wrapped = wrapPlan(base, {
      procsFiles: ['/cg/memory/acme-1/cgroup.procs', '/cg/pids/acme-1/cgroup.procs'],
      rlimits: [{ resource: 'nofile', value: 64 }],
      prlimit: '/usr/bin/prlimit',
    });
    expect(wrapped).toEqual({
      command: '/bin/sh',
      args: [
        '-c',
        LIMITS_SCRIPT,
        LIMITS_ARGV0,
        '/cg/memory/acme-1/cgroup.procs',
        '/cg/pids/acme-1/cgroup.procs',
        '--',
        '--',
        '/usr/bin/prlimit',
        '--nofile=64:64',
        '--',
        'my-server',
        '--x',
        'a b',
      ],
      cwd: '/data/acme',
      env: { PATH: '/bin' },
    });
  });

  it('uses the shell ulimit without prlimit (data in KiB)', () => {
    const wrapped = wrapPlan(base, {
      procsFiles: [],
      rlimits: [
        { resource: 'nofile', value: 64 },
        { resource: 'data', value: 100 * MIB },
      ],
    });
    expect(wrapped.args.slice(3)).toEqual([
      '--',
      '-n',
      '64',
      '-d',
      '102400',
      '--',
      'my-server',
      '--x',
      'a b',
    ]);
  });

  it('caps the V8 heap of a Node child at ~75% of memory_mb', () => {
    const node = { ...base, command: process.execPath, args: ['server.js'] };
    expect(withNodeHeapCap(node, 256).args).toEqual(['--max-old-space-size=192', 'server.js']);
    expect(withNodeHeapCap(node, undefined)).toBe(node);
    const chosen = { ...node, args: ['--max-old-space-size=50', 'server.js'] };
    expect(withNodeHeapCap(chosen, 256)).toBe(chosen);
    const npx = { ...base, command: 'npx', env: { NODE_OPTIONS: '--enable-source-maps' } };
    expect(withNodeHeapCap(npx, 100).env.NODE_OPTIONS).toBe(
      '--enable-source-maps --max-old-space-size=75',
    );
    expect(withNodeHeapCap(base, 100)).toBe(base);
  });
});
