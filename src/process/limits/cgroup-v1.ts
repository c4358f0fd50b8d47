import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Limits } from '../../core/config.js';
import {
  type ControllerWrites,
  killProcs,
  readKeyed,
  readProcs,
  removeFolders,
  removeIfEmpty,
  writeControllers,
} from './cgroup-files.js';
import { cpuQuota } from './cpu-quota.js';
import { nextLeafName, type TenantCgroup } from './tenant-cgroup.js';
import { CGROUP_CONTROLLERS, type CgroupController } from './types.js';

const MIB = 1024 * 1024;

/** What each controller holds without a limit; the probe writes these to prove the files take writes. */
export const V1_UNLIMITED: Record<CgroupController, [file: string, value: string]> = {
  memory: ['memory.limit_in_bytes', '-1'],
  cpu: ['cpu.cfs_quota_us', '-1'],
  pids: ['pids.max', 'max'],
};

/** The v1 files and values of one controller for `limits`; unlimited where a limit is not set. */
export function controllerWritesV1(controller: CgroupController, limits: Limits): ControllerWrites {
  const unlimited = { writes: [V1_UNLIMITED[controller]] };
  switch (controller) {
    case 'memory': {
      const mb = limits.memory_mb;
      if (mb === undefined) return unlimited;
      return {
        writes: [['memory.limit_in_bytes', String(mb * MIB)]],
        enforced: `memory.limit_in_bytes ${mb} MiB`,
      };
    }
    case 'cpu': {
      if (limits.cpu === undefined) return unlimited;
      const { quotaUs, periodUs } = cpuQuota(limits.cpu);
      return {
        writes: [
          ['cpu.cfs_period_us', String(periodUs)],
          ['cpu.cfs_quota_us', String(quotaUs)],
        ],
        enforced: `cpu.cfs_quota_us ${quotaUs} per ${periodUs}`,
      };
    }
    case 'pids':
      if (limits.pids === undefined) return unlimited;
      return { writes: [['pids.max', String(limits.pids)]], enforced: `pids.max ${limits.pids}` };
  }
}

/**
 * Writes `limits` into the leaves (one per hierarchy), for a new cgroup and
 * for a running child's alike. Throws on the first write the kernel refuses:
 * v1 answers EBUSY to a memory limit below what the cgroup holds.
 */
export function writeLimitsV1(
  leaves: ReadonlyMap<CgroupController, string>,
  limits: Limits,
): TenantCgroup['enforcement'] {
  const targets = CGROUP_CONTROLLERS.flatMap((controller) => {
    const dir = leaves.get(controller);
    return dir === undefined ? [] : [{ controller, dir }];
  });
  return writeControllers(targets, (controller) => controllerWritesV1(controller, limits));
}

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
  let enforcement: TenantCgroup['enforcement'];
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
      // A cpu cgroup of its own is a scheduling group of its own, and every
      // wake-up of the child (each relayed call) pays for crossing groups:
      // joined only to cap the CPU. Memory and pids cost nothing there.
      if (controller === 'cpu' && limits.cpu === undefined) continue;
      const instanceDir = join(tree, String(instance));
      mkdirSync(instanceDir, { recursive: true });
      instanceDirs.push(instanceDir);
      const dir = join(instanceDir, leafName);
      mkdirSync(dir);
      leaves.set(controller, dir);
    }
    enforcement = writeLimitsV1(leaves, limits);
  } catch (error) {
    for (const dir of leaves.values()) removeIfEmpty(dir);
    throw error;
  }
  const memoryDir = leaves.get('memory');
  return {
    version: 1,
    dirs: [...leaves.values()],
    controllers: [...leaves.keys()],
    procsFiles: [...leaves.values()].map((dir) => join(dir, 'cgroup.procs')),
    get enforcement() {
      return enforcement;
    },
    update: (next) => {
      enforcement = writeLimitsV1(leaves, next);
    },
    members: () => [...new Set([...leaves.values()].flatMap(readProcs))],
    kill,
    oomKills: () =>
      memoryDir === undefined
        ? undefined
        : readKeyed(join(memoryDir, 'memory.oom_control'), 'oom_kill'),
    remove,
  };
}
