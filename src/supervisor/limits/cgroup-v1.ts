import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Limits } from '../../manifest/types.js';
import {
  killProcs,
  readKeyed,
  readProcs,
  removeFolders,
  removeIfEmpty,
  writeControl,
} from './cgroup-files.js';
import { cpuQuota } from './cpu-quota.js';
import { nextLeafName, type TenantCgroup } from './tenant-cgroup.js';
import { CGROUP_CONTROLLERS, type CgroupController } from './types.js';

const MIB = 1024 * 1024;

/** A harmless value per controller, written by the probe to prove the files take writes. */
export const V1_PROBE_WRITES: Record<CgroupController, [file: string, value: string]> = {
  memory: ['memory.limit_in_bytes', '-1'],
  cpu: ['cpu.cfs_quota_us', '-1'],
  pids: ['pids.max', 'max'],
};

/**
 * Creates the tenant's leaf `<tree>/<instance>/<tenant>-<n>` in every v1
 * hierarchy given (the child joins them all, so `kill()` finds it in any) and
 * writes the limits of the controllers asked for.
 */
export function createCgroupV1(
  trees: Partial<Record<CgroupController, string>>,
  instance: number,
  tenantId: string,
  limits: Limits,
): TenantCgroup {
  const leafName = nextLeafName(tenantId);
  const leaves = new Map<CgroupController, string>();
  const instanceDirs: string[] = [];
  const enforcement: TenantCgroup['enforcement'] = {};
  const kill = (): void => {
    for (const dir of leaves.values()) killProcs(dir);
  };
  const remove = async (): Promise<boolean> => {
    const removed = await removeFolders([...leaves.values()], kill);
    for (const dir of instanceDirs) removeIfEmpty(dir);
    return removed;
  };
  try {
    for (const controller of CGROUP_CONTROLLERS) {
      const tree = trees[controller];
      if (tree === undefined) continue;
      const instanceDir = join(tree, String(instance));
      mkdirSync(instanceDir, { recursive: true });
      instanceDirs.push(instanceDir);
      const dir = join(instanceDir, leafName);
      mkdirSync(dir);
      leaves.set(controller, dir);
      if (controller === 'memory' && limits.memory_mb !== undefined) {
        writeControl(dir, 'memory.limit_in_bytes', String(limits.memory_mb * MIB));
        enforcement.memory = `memory.limit_in_bytes ${limits.memory_mb} MiB`;
      }
      if (controller === 'cpu' && limits.cpu !== undefined) {
        const { quotaUs, periodUs } = cpuQuota(limits.cpu);
        writeControl(dir, 'cpu.cfs_period_us', String(periodUs));
        writeControl(dir, 'cpu.cfs_quota_us', String(quotaUs));
        enforcement.cpu = `cpu.cfs_quota_us ${quotaUs} per ${periodUs}`;
      }
      if (controller === 'pids' && limits.pids !== undefined) {
        writeControl(dir, 'pids.max', String(limits.pids));
        enforcement.pids = `pids.max ${limits.pids}`;
      }
    }
  } catch (error) {
    for (const dir of leaves.values()) removeIfEmpty(dir);
    throw error;
  }
  const memoryDir = leaves.get('memory');
  return {
    version: 1,
    dirs: [...leaves.values()],
    procsFiles: [...leaves.values()].map((dir) => join(dir, 'cgroup.procs')),
    enforcement,
    members: () => [...new Set([...leaves.values()].flatMap(readProcs))],
    kill,
    oomKills: () =>
      memoryDir === undefined
        ? undefined
        : readKeyed(join(memoryDir, 'memory.oom_control'), 'oom_kill'),
    remove,
  };
}
