import type { Limits } from '../../core/config.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import type { SpawnPlan } from '../child-process.js';
import { createCgroupV1 } from './cgroup-v1.js';
import { createCgroupV2 } from './cgroup-v2.js';
import { detectHostLimits } from './detect.js';
import { changedLimits } from './limits-change.js';
import { prlimitChanges, setRlimitsOf } from './live-rlimits.js';
import { isNodeCommand, isNodeLauncher, nodeHeapMb, type Rlimit, rlimitsFor } from './rlimits.js';
import type { TenantCgroup } from './tenant-cgroup.js';
import type { HostLimitsReport, LimitLayer, ProcessSample } from './types.js';
import { wrapPlan } from './wrap.js';

const MIB = 1024 * 1024;

/** What the child uses now, from the watchdog's last sample. */
export type Usage = Pick<ProcessSample, 'rssBytes' | 'pids'>;

export interface PrepareOptions {
  /** Names the instance folder; default the supervisor's pid. */
  instance?: number;
}

/** Which mechanism caps each limit, for `describe()` and status pages. */
export type Enforcement = Partial<Record<keyof Limits | 'heap', string>>;

/**
 * The limits of one child, made real: its cgroup (created by `prepare`, before
 * the child starts), the rlimits and V8 heap cap its plan gets, new limits
 * while it runs (`update`), and the clean-up once it is gone. One instance
 * per child process: prepare → wrap → start → watch … exit → killAll → release.
 */
export class TenantLimits {
  private released: Promise<boolean> | undefined;
  /** The command last wrapped: Node children get a higher RLIMIT_DATA floor. */
  private command = '';

  private constructor(
    readonly tenantId: string,
    private current: Limits,
    private readonly report: HostLimitsReport,
    private readonly cgroup: TenantCgroup | undefined,
  ) {}

  /** The limits in force: those at start, or the last ones `update` applied. */
  get limits(): Limits {
    return this.current;
  }

  /** Creates the child's cgroup (if the host has one) and writes its limits. */
  static prepare(
    tenantId: string,
    limits: Limits,
    report: HostLimitsReport = detectHostLimits(),
    options: PrepareOptions = {},
  ): TenantLimits {
    const instance = options.instance ?? process.pid;
    const placement = report.cgroup;
    let cgroup: TenantCgroup | undefined;
    try {
      if (placement?.version === 2 && report.active.includes('cgroup-v2')) {
        cgroup = createCgroupV2(placement.tree, placement.controllers, instance, tenantId, limits);
      } else if (placement?.version === 1 && report.active.includes('cgroup-v1')) {
        cgroup = createCgroupV1(placement.trees, instance, tenantId, limits);
      }
    } catch (error) {
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `cannot create the cgroup of tenant "${tenantId}": ${(error as Error).message}`,
        { cause: error },
      );
    }
    return new TenantLimits(tenantId, limits, report, cgroup);
  }

  /** The layers enforcing something for this child, strongest first. */
  get layers(): LimitLayer[] {
    const layers: LimitLayer[] = [];
    if (this.cgroup) layers.push(this.cgroup.version === 2 ? 'cgroup-v2' : 'cgroup-v1');
    if (this.usesRlimits) layers.push('rlimits');
    if (this.report.active.includes('watchdog')) layers.push('watchdog');
    return layers;
  }

  /** For `Watchdog.watch`: a cgroup caps CPU, so the watchdog must not throttle. */
  get cpuEnforcedByKernel(): boolean {
    return this.cgroup?.enforcement.cpu !== undefined;
  }

  get enforcement(): Enforcement {
    const result: Enforcement = {};
    const kernel = this.cgroup ? (this.cgroup.version === 2 ? 'cgroup-v2' : 'cgroup-v1') : '';
    const watchdog = this.report.active.includes('watchdog') ? 'watchdog' : undefined;
    const { memory_mb: memoryMb, cpu, pids, open_files: openFiles } = this.current;
    const rlimits = this.rlimitsFor(this.current);
    const data = rlimits.find((limit) => limit.resource === 'data');
    if (memoryMb !== undefined) {
      result.memory_mb =
        this.cgroup?.enforcement.memory !== undefined
          ? `${kernel} ${this.cgroup.enforcement.memory}`
          : data
            ? `RLIMIT_DATA ${data.value} bytes per process${watchdog ? ' + watchdog (group RSS)' : ''}`
            : (watchdog ?? 'not enforced');
      result.heap = `V8 --max-old-space-size=${nodeHeapMb(memoryMb)} (Node children)`;
    }
    if (cpu !== undefined) {
      result.cpu =
        this.cgroup?.enforcement.cpu !== undefined
          ? `${kernel} ${this.cgroup.enforcement.cpu}`
          : watchdog
            ? 'watchdog (SIGSTOP/SIGCONT throttle)'
            : 'not enforced';
    }
    if (pids !== undefined) {
      result.pids =
        this.cgroup?.enforcement.pids !== undefined
          ? `${kernel} ${this.cgroup.enforcement.pids}`
          : watchdog
            ? 'watchdog (reported, not prevented)'
            : 'not enforced';
    }
    if (openFiles !== undefined) {
      result.open_files = this.report.active.includes('rlimits')
        ? `RLIMIT_NOFILE ${openFiles}`
        : 'not enforced';
    }
    return result;
  }

  /** One line: which mechanism caps what. */
  describe(): string {
    const parts = Object.entries(this.enforcement).map(([limit, how]) => `${limit}: ${how}`);
    return `tenant ${this.tenantId} [${this.layers.join(', ') || 'no limits'}] ${parts.join('; ') || 'no limits set'}`;
  }

  /**
   * The plan to start instead of `plan`: joins the cgroup before the program
   * runs, applies rlimits, caps the V8 heap of Node children. The pid of the
   * started process is the program's (the wrapper execs it).
   */
  wrap(plan: SpawnPlan): SpawnPlan {
    if (this.released) throw new Error(`limits of tenant "${this.tenantId}" already released`);
    this.command = plan.command;
    return wrapPlan(plan, {
      procsFiles: this.cgroup?.procsFiles ?? [],
      rlimits: this.rlimitsFor(this.current),
      prlimit: this.report.prlimit,
      memoryMb: this.current.memory_mb,
    });
  }

  /**
   * Gives the running child (`pid`, and whatever else is in its cgroup) the
   * limits `next`: new values in its cgroup files, its rlimits changed with
   * `prlimit --pid`; the watchdog's part is the caller's. Resolves with the
   * reason when they cannot change live or the kernel refuses one (then only
   * a new child gets them; a refusal may leave some files changed, and the
   * restart that follows sets them all), undefined when they were applied.
   */
  async update(next: Limits, pid: number, usage?: Usage): Promise<string | undefined> {
    let args: string[];
    try {
      args = prlimitChanges(this.rlimitsFor(this.current), this.rlimitsFor(next));
    } catch (error) {
      return (error as Error).message;
    }
    const blocker = this.restartReason(next, args.length > 0, usage);
    if (blocker !== undefined) return blocker;
    try {
      this.cgroup?.update(next);
      this.current = next;
      if (args.length > 0 && this.report.prlimit !== undefined) {
        // Every process of the child: a launcher's real server inherited the old value too.
        const pids = [...new Set([pid, ...(this.members() ?? [])])];
        await setRlimitsOf(this.report.prlimit, pids, args);
      }
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  }

  /** Why `next` cannot be given to the running child; undefined when it can. */
  private restartReason(
    next: Limits,
    rlimitsChange: boolean,
    usage: Usage | undefined,
  ): string | undefined {
    const changed = changedLimits(this.current, next);
    const nodeChild = isNodeCommand(this.command) || isNodeLauncher(this.command);
    if (changed.includes('memory_mb') && nodeChild) {
      return "memory_mb sets a Node child's V8 heap cap (--max-old-space-size), which is fixed when it starts";
    }
    const cpuTree = this.report.cgroup?.version === 1 && this.report.cgroup.trees.cpu !== undefined;
    if (next.cpu !== undefined && cpuTree && !this.cgroup?.controllers.includes('cpu')) {
      return 'a cpu limit puts the child in a cpu cgroup, which it joins when it starts';
    }
    if (rlimitsChange && this.report.prlimit === undefined) {
      return 'no prlimit on this host to change the rlimits of a running process (the shell sets them at start only)';
    }
    return usage ? overUsage(changed, next, usage) : undefined;
  }

  /** The child's cgroup folders (one per v1 hierarchy); [] without a cgroup. */
  get folders(): readonly string[] {
    return this.cgroup?.dirs ?? [];
  }

  /** Every process in the child's cgroup; undefined without a cgroup. */
  members(): number[] | undefined {
    return this.cgroup?.members();
  }

  /** OOM kills in the child's cgroup so far (undefined without a memory cgroup). */
  oomKills(): number | undefined {
    return this.cgroup?.oomKills();
  }

  /**
   * SIGKILLs every process in the child's cgroup — grandchildren that left the
   * process group included. Without a cgroup there is nothing to find them
   * by: the caller's process-group kill is all there is.
   */
  killAll(): void {
    this.cgroup?.kill();
  }

  /**
   * Call once the child has exited: kills stragglers, waits for the cgroup to
   * empty and removes its folder. Idempotent; resolves false if a folder
   * could not be removed (`cleanupStale` on a later start retries).
   */
  release(): Promise<boolean> {
    this.released ??= this.cgroup ? this.cgroup.remove() : Promise.resolve(true);
    return this.released;
  }

  private get usesRlimits(): boolean {
    return (
      this.report.active.includes('rlimits') &&
      (this.current.memory_mb !== undefined || this.current.open_files !== undefined)
    );
  }

  /** The rlimits of `limits` for this child; RLIMIT_DATA only where no memory cgroup exists. */
  private rlimitsFor(limits: Limits): Rlimit[] {
    if (!this.report.active.includes('rlimits')) return [];
    return rlimitsFor(limits, this.command, this.cgroup?.controllers.includes('memory') ?? false);
  }
}

/**
 * A memory or pids limit lowered under what the child uses now: the kernel or
 * the watchdog would kill it mid-request, so it restarts when quiet instead.
 */
function overUsage(
  changed: readonly (keyof Limits)[],
  next: Limits,
  usage: Usage,
): string | undefined {
  const { memory_mb: memoryMb, pids } = next;
  if (changed.includes('memory_mb') && memoryMb !== undefined && usage.rssBytes > memoryMb * MIB) {
    return `the child holds ${Math.round(usage.rssBytes / MIB)} MiB now, over the new memory_mb ${memoryMb}`;
  }
  if (changed.includes('pids') && pids !== undefined && usage.pids > pids) {
    return `the child runs ${usage.pids} tasks now, over the new pids ${pids}`;
  }
  return undefined;
}
