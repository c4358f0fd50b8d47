import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareTreeV2 } from '../../src/process/limits/cgroup-v2.js';
import { detectHostLimits } from '../../src/process/limits/detect.js';
import { TenantLimits } from '../../src/process/limits/tenant-limits.js';

// A cgroup file system faked with plain folders: shows which files get which
// values on a host shape this machine lacks. (Real kernels: test/integration/limits.)
let root: string;
const read = (...path: string[]) => readFileSync(join(root, ...path), 'utf8');

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'limits-cgroupfs-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('cgroup v2 (fake tree)', () => {
  const mountinfo = () => `41 31 0:38 / ${root} rw,relatime - cgroup2 cgroup2 rw`;

  it('says why a cgroup2 without controllers is no use', () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'hugetlb\n');
    const report = detectHostLimits({ mountinfo: mountinfo(), procCgroup: '0::/\n' });
    expect(report.active).not.toContain('cgroup-v2');
    expect(report.unavailable).toContainEqual({
      layer: 'cgroup-v2',
      reason: expect.stringMatching(/offers none of memory, cpu, pids.*"hugetlb"/),
    });
  });

  it('delegates controllers down the tree and writes the tenant limits', () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const report = detectHostLimits({ mountinfo: mountinfo(), procCgroup: '0::/\n' });
    expect(report.active[0]).toBe('cgroup-v2');
    expect(report.unavailable).toContainEqual({
      layer: 'cgroup-v1',
      reason: 'superseded by cgroup-v2',
    });
    expect(report.cgroup).toEqual({
      version: 2,
      tree: join(root, 'mcp-tenants'),
      controllers: ['memory', 'cpu', 'pids'],
    });
    expect(read('cgroup.subtree_control')).toBe('+memory +cpu +pids');
    expect(read('mcp-tenants', 'cgroup.subtree_control')).toBe('+memory +cpu +pids');

    const limits = TenantLimits.prepare('acme', { memory_mb: 64, cpu: 0.2, pids: 32 }, report, {
      instance: 77,
    });
    const [leaf] = limits.folders;
    expect(leaf).toMatch(new RegExp(`^${root}/mcp-tenants/77/acme-\\d+$`));
    expect(read('mcp-tenants', '77', 'cgroup.subtree_control')).toBe('+memory +cpu +pids');
    const file = (name: string) => readFileSync(join(leaf as string, name), 'utf8');
    expect(file('memory.max')).toBe(String(64 * 1024 * 1024));
    expect(file('memory.oom.group')).toBe('1');
    expect(file('cpu.max')).toBe('20000 100000');
    expect(file('pids.max')).toBe('32');
    expect(limits.cpuEnforcedByKernel).toBe(true);
    expect(limits.layers).toEqual(['cgroup-v2', 'rlimits', 'watchdog']);
    expect(limits.describe()).toMatch(
      /memory_mb: cgroup-v2 memory.max 64 MiB.*cpu: cgroup-v2 cpu.max "20000 100000".*pids: cgroup-v2 pids.max 32/,
    );
    const wrapped = limits.wrap({ command: 'srv', args: [], cwd: '/', env: {} });
    expect(wrapped.args.slice(3, 5)).toEqual([join(leaf as string, 'cgroup.procs'), '--']);
  });

  it('says why it cannot enable controllers below its own cgroup', () => {
    // A folder where the control file should be: the write fails.
    writeFileSync(join(root, 'cgroup.controllers'), 'memory\n');
    mkdirSync(join(root, 'cgroup.subtree_control'));
    const prepared = prepareTreeV2(root);
    expect(prepared).toEqual({
      reason: expect.stringMatching(/^cannot delegate controllers below/),
    });
  });
});

describe('cgroup v1 (fake tree)', () => {
  it('uses each controller below the own cgroup of its hierarchy', () => {
    const mountinfo = ['memory', 'cpu,cpuacct', 'pids']
      .map((name, i) => {
        mkdirSync(join(root, name, 'sandbox'), { recursive: true });
        return `${32 + i} 31 0:${29 + i} / ${join(root, name)} rw - cgroup cgroup rw,${name}`;
      })
      .join('\n');
    const procCgroup = '4:memory:/sandbox\n2:cpu,cpuacct:/sandbox\n8:pids:/sandbox\n0::/\n';
    const report = detectHostLimits({ mountinfo, procCgroup });
    expect(report.active[0]).toBe('cgroup-v1');
    expect(report.unavailable).toContainEqual({
      layer: 'cgroup-v2',
      reason: 'no cgroup2 file system mounted',
    });
    expect(report.cgroup).toEqual({
      version: 1,
      trees: {
        memory: join(root, 'memory/sandbox/mcp-tenants'),
        cpu: join(root, 'cpu,cpuacct/sandbox/mcp-tenants'),
        pids: join(root, 'pids/sandbox/mcp-tenants'),
      },
    });
    const limits = TenantLimits.prepare('acme', { memory_mb: 64, cpu: 1.5 }, report, {
      instance: 5,
    });
    expect(limits.folders).toHaveLength(3);
    const [memory, cpu] = limits.folders as string[];
    expect(readFileSync(join(memory as string, 'memory.limit_in_bytes'), 'utf8')).toBe(
      String(64 * 1024 * 1024),
    );
    expect(readFileSync(join(cpu as string, 'cpu.cfs_quota_us'), 'utf8')).toBe('150000');
    expect(readFileSync(join(cpu as string, 'cpu.cfs_period_us'), 'utf8')).toBe('100000');
    // Memory is the cgroup's: no RLIMIT_DATA, only the heap cap for Node.
    const wrapped = limits.wrap({ command: process.execPath, args: ['x.js'], cwd: '/', env: {} });
    expect(wrapped.args.filter((arg) => arg.startsWith('--data') || arg === '-d')).toEqual([]);
    expect(wrapped.args.slice(-2)).toEqual(['--max-old-space-size=48', 'x.js']);
  });
});
