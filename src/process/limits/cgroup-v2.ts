import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Limits } from '../../core/config.js';
import {
  type ControllerWrites,
  killProcs,
  readKeyed,
  readProcs,
  removeFolders,
  removeIfEmpty,
  writeControl,
  writeControllers,
} from './cgroup-files.js';
import { cpuQuota, DEFAULT_CPU_PERIOD_US, formatCpuMax } from './cpu-quota.js';
import { nextLeafName, type TenantCgroup } from './tenant-cgroup.js';
import { CGROUP_CONTROLLERS, type CgroupController } from './types.js';

const MIB = 1024 * 1024;

function readWords(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Turns the controllers on for the folder's children (`cgroup.subtree_control`). */
export function enableControllers(dir: string, controllers: readonly CgroupController[]): void {
  const enabled = readWords(join(dir, 'cgroup.subtree_control'));
  const missing = controllers.filter((controller) => !enabled.includes(controller));
  if (missing.length === 0) return;
  writeControl(dir, 'cgroup.subtree_control', missing.map((name) => `+${name}`).join(' '));
}

/**
 * Prepares `<own>/mcp-tenants` as a tree whose children get memory, cpu and
 * pids. Returns the controllers usable there, or why none is. When the
 * supervisor's own cgroup holds the supervisor alone, the supervisor moves
 * into a leaf `<own>/mcp-tenants-supervisor` first: cgroup v2 enables
 * controllers only below folders without processes.
 */
export function prepareTreeV2(
  own: string,
): { tree: string; controllers: CgroupController[] } | { reason: string } {
  const offered = readWords(join(own, 'cgroup.controllers'));
  const controllers = CGROUP_CONTROLLERS.filter((name) => offered.includes(name));
  if (controllers.length === 0) {
    return {
      reason: `${own} offers none of memory, cpu, pids (cgroup.controllers: "${offered.join(' ')}"); they are not delegated or are bound to cgroup v1 hierarchies`,
    };
  }
  try {
    try {
      enableControllers(own, controllers);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      const members = readProcs(own);
      if (members.length !== 1 || members[0] !== process.pid) {
        return {
          reason: `cannot enable controllers below ${own}: it holds other processes (${members.length}); run the supervisor in its own delegated cgroup (e.g. systemd Delegate=yes)`,
        };
      }
      const leaf = join(own, 'mcp-tenants-supervisor');
      mkdirSync(leaf, { recursive: true });
      writeControl(leaf, 'cgroup.procs', String(process.pid));
      enableControllers(own, controllers);
    }
    const tree = join(own, 'mcp-tenants');
    mkdirSync(tree, { recursive: true });
    enableControllers(tree, controllers);
    return { tree, controllers };
  } catch (error) {
    return { reason: `cannot delegate controllers below ${own}: ${(error as Error).message}` };
  }
}

/** What each controller holds without a limit; the probe writes these to prove the files take writes. */
export const V2_UNLIMITED: Record<CgroupController, [file: string, value: string]> = {
  memory: ['memory.max', 'max'],
  cpu: ['cpu.max', formatCpuMax({ quotaUs: null, periodUs: DEFAULT_CPU_PERIOD_US })],
  pids: ['pids.max', 'max'],
};

/** The v2 files and values of one controller for `limits`; unlimited where a limit is not set. */
export function controllerWritesV2(controller: CgroupController, limits: Limits): ControllerWrites {
  switch (controller) {
    case 'memory': {
      const mb = limits.memory_mb;
      if (mb === undefined) {
        return { writes: [V2_UNLIMITED.memory], optional: [['memory.swap.max', 'max']] };
      }
      return {
        // One OOM kill takes the whole child down, not just its largest process.
        writes: [
          ['memory.max', String(mb * MIB)],
          ['memory.oom.group', '1'],
        ],
        optional: [['memory.swap.max', '0']],
        enforced: `memory.max ${mb} MiB`,
      };
    }
    case 'cpu': {
      if (limits.cpu === undefined) return { writes: [V2_UNLIMITED.cpu] };
      const text = formatCpuMax(cpuQuota(limits.cpu));
      return { writes: [['cpu.max', text]], enforced: `cpu.max "${text}"` };
    }
    case 'pids':
      if (limits.pids === undefined) return { writes: [V2_UNLIMITED.pids] };
      return { writes: [['pids.max', String(limits.pids)]], enforced: `pids.max ${limits.pids}` };
  }
}

/**
 * Writes `limits` into the leaf's enabled controllers, for a new cgroup and
 * for a running child's alike. Throws on the first write the kernel refuses.
 */
export function writeLimitsV2(
  dir: string,
  controllers: readonly CgroupController[],
  limits: Limits,
): TenantCgroup['enforcement'] {
  const targets = CGROUP_CONTROLLERS.filter((controller) => controllers.includes(controller)).map(
    (controller) => ({ controller, dir }),
  );
  return writeControllers(targets, (controller) => controllerWritesV2(controller, limits));
}

/** Creates the tenant's leaf `<tree>/<instance>/<tenant>-<n>` and writes its limits. */
export function createCgroupV2(
  tree: string,
  controllers: readonly CgroupController[],
  instance: number,
  tenantId: string,
  limits: Limits,
): TenantCgroup {
  const instanceDir = join(tree, String(instance));
  mkdirSync(instanceDir, { recursive: true });
  enableControllers(instanceDir, controllers);
  const dir = join(instanceDir, nextLeafName(tenantId));
  mkdirSync(dir);
  let enforcement: TenantCgroup['enforcement'];
  try {
    enforcement = writeLimitsV2(dir, controllers, limits);
  } catch (error) {
    removeIfEmpty(dir);
    throw error;
  }
  const kill = (): void => {
    if (existsSync(join(dir, 'cgroup.kill'))) {
      try {
        writeControl(dir, 'cgroup.kill', '1');
        return;
      } catch {
        // Fall back to killing one by one.
      }
    }
    killProcs(dir);
  };
  return {
    version: 2,
    dirs: [dir],
    controllers,
    procsFiles: [join(dir, 'cgroup.procs')],
    get enforcement() {
      return enforcement;
    },
    update: (next) => {
      enforcement = writeLimitsV2(dir, controllers, next);
    },
    members: () => readProcs(dir),
    kill,
    oomKills: () => readKeyed(join(dir, 'memory.events'), 'oom_kill'),
    remove: async () => {
      const removed = await removeFolders([dir], kill);
      removeIfEmpty(instanceDir);
      return removed;
    },
  };
}
