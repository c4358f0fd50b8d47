import { ErrorCode, McpTenantsError } from '../../errors.js';
import type { Limits } from '../../manifest/types.js';
import type { SpawnPlan } from '../child-process.js';
import { createCgroupV1 } from './cgroup-v1.js';
import { createCgroupV2 } from './cgroup-v2.js';
import { detectIsolation } from './detect.js';
import { nodeHeapMb, rlimitsFor } from './rlimits.js';
import type { TenantCgroup } from './tenant-cgroup.js';
import type { IsolationLayer, IsolationReport } from './types.js';
import { wrapPlan } from './wrap.js';

export interface PrepareOptions {
  /** Names the instance folder; default the supervisor's pid. */
  instance?: number;
}

/** Which mechanism caps each limit, for `describe()` and status pages. */
export type Enforcement = Partial<Record<keyof Limits | 'heap', string>>;

/**
 * The limits of one child, made real: its cgroup (created by `prepare`, before
 * the child starts), the rlimits and V8 heap cap its plan gets, and the
 * clean-up once it is gone. One instance per child process: prepare → wrap →
 * start → watch … exit → killAll → release.
 */
export class TenantLimits {
  private released: Promise<boolean> | undefined;
  /** The command last wrapped: Node children get a higher RLIMIT_DATA floor. */
  private command = '';

  private constructor(
    readonly tenantId: string,
    readonly limits: Limits,
    private readonly report: IsolationReport,
    private readonly cgroup: TenantCgroup | undefined,
  ) {}

  /** Creates the child's cgroup (if the host has one) and writes its limits. */
  static prepare(
    tenantId: string,
    limits: Limits,
    report: IsolationReport = detectIsolation(),
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
  get layers(): IsolationLayer[] {
    const layers: IsolationLayer[] = [];
    if (this.cgroup) layers.push(this.cgroup.version === 2 ? 'cgroup-v2' : 'cgroup-v1');
    if (this.usesRlimits) layers.push('rlimits');
    if (this.report.active.includes('watchdog')) layers.push('watchdog');
    return layers;
  }

  /** For `Watchdog.watch`: a cgroup caps CPU, so the watchdog must not throttle. */
  get cpuEnforcedByKernel(): boolean {
    return this.cgroup?.enforcement.cpu !== undefined;
  }

  get memoryEnforcedByKernel(): boolean {
    return this.cgroup?.enforcement.memory !== undefined;
  }

  get enforcement(): Enforcement {
    const result: Enforcement = {};
    const kernel = this.cgroup ? (this.cgroup.version === 2 ? 'cgroup-v2' : 'cgroup-v1') : '';
    const watchdog = this.report.active.includes('watchdog') ? 'watchdog' : undefined;
    const { memory_mb: memoryMb, cpu, pids, open_files: openFiles } = this.limits;
    const rlimits = this.rlimitsFor(this.command);
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
      rlimits: this.rlimitsFor(plan.command),
      prlimit: this.report.prlimit,
      memoryMb: this.limits.memory_mb,
    });
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
      (this.limits.memory_mb !== undefined || this.limits.open_files !== undefined)
    );
  }

  private rlimitsFor(command: string) {
    if (!this.report.active.includes('rlimits')) return [];
    return rlimitsFor(this.limits, command, this.memoryEnforcedByKernel);
  }
}
