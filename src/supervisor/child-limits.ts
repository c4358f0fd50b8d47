import type { Limits } from '../manifest/types.js';
import type { SpawnPlan } from './child-process.js';
import {
  type IsolationLayer,
  type IsolationReport,
  type ProcessSample,
  TenantLimits,
  type Violation,
  type Watchdog,
  type WatchHandle,
} from './limits/index.js';

/** What the host offers, found once at startup, and the one watchdog of all children. */
export interface Isolation {
  report: IsolationReport;
  watchdog: Watchdog;
}

/** What the tenant's status shows of the limits of its running child. */
export interface LimitsStatus {
  layers: IsolationLayer[];
  enforcement: Record<string, string>;
}

const MIB = 1024 * 1024;

/**
 * The limits of one child process, from before it starts until after it is
 * gone: its cgroup and rlimits (through the wrapped command), the watchdog's
 * samples while it runs, and the clean-up of every process it left.
 */
export class ChildLimits {
  private watch: WatchHandle | undefined;
  private violation: Violation | undefined;

  private constructor(
    private readonly limits: TenantLimits,
    private readonly isolation: Isolation,
  ) {}

  /** Creates the child's cgroup (where the host has one) before it starts. */
  static prepare(isolation: Isolation, tenantId: string, limits: Limits): ChildLimits {
    return new ChildLimits(TenantLimits.prepare(tenantId, limits, isolation.report), isolation);
  }

  /** The command to run instead: joins the cgroup, applies rlimits, caps a Node heap. */
  wrap(plan: SpawnPlan): SpawnPlan {
    return this.limits.wrap(plan);
  }

  /**
   * Samples the running child. A child over its memory or pids limit is
   * reported through `onViolation` (the caller kills it); CPU over the limit
   * is throttled by the watchdog or the cgroup, and reported too.
   */
  watchChild(
    pid: number,
    hooks: {
      onViolation: (violation: Violation) => void;
      onSample: (sample: ProcessSample) => void;
    },
  ): void {
    this.watch = this.isolation.watchdog.watch(pid, this.limits.limits, {
      cpuEnforcedByKernel: this.limits.cpuEnforcedByKernel,
      members: () => this.limits.members(),
      onSample: hooks.onSample,
      onViolation: (violation) => {
        if (violation.kind !== 'cpu') this.violation ??= violation;
        hooks.onViolation(violation);
      },
    });
  }

  /** The limit the child was killed for, if any: the watchdog's, or the kernel's OOM killer. */
  get limitKill(): 'memory' | 'pids' | 'oom' | undefined {
    if (this.violation?.kind === 'memory' || this.violation?.kind === 'pids') {
      return this.violation.kind;
    }
    return (this.limits.oomKills() ?? 0) > 0 ? 'oom' : undefined;
  }

  latestSample(): ProcessSample | undefined {
    return this.watch?.latest();
  }

  /** Stops sampling first, so a stopped child is never resumed or killed twice. */
  stopWatching(): void {
    this.watch?.stop();
  }

  /**
   * After the child's exit: kills whatever it left in its cgroup and removes
   * the cgroup. Never throws; a folder left behind is removed on a later start.
   */
  async release(): Promise<void> {
    this.stopWatching();
    this.limits.killAll();
    await this.limits.release();
  }

  get status(): LimitsStatus {
    return { layers: this.limits.layers, enforcement: { ...this.limits.enforcement } };
  }
}

/** One line for the log about a limit the child went over. */
export function describeViolation(violation: Violation): string {
  switch (violation.kind) {
    case 'memory':
      return `over its memory limit: ${Math.round(violation.rssBytes / MIB)} MiB resident > ${Math.round(violation.limitBytes / MIB)} MiB (memory_mb)`;
    case 'pids':
      return `over its process limit: ${violation.pids} tasks > ${violation.limit} (pids)`;
    case 'cpu':
      return `over its CPU limit: ${violation.cores.toFixed(2)} cores > ${violation.limitCores} (cpu); ${violation.action === 'throttle' ? 'throttled' : 'recorded'}`;
  }
}
