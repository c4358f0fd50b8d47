import type { Limits } from '../core/config.js';
import type { SpawnPlan } from './child-process.js';
import type { HostLimits } from './host-limits.js';
import {
  describeChanges,
  type LimitLayer,
  type ProcessSample,
  TenantLimits,
  type Violation,
  type WatchHandle,
} from './limits/index.js';

/** What the tenant's status shows of the limits of its running child. */
export interface LimitsStatus {
  layers: LimitLayer[];
  enforcement: Record<string, string>;
}

/** What became of new limits for a running child. */
export type LimitsUpdate =
  /** No running child under limits, or nothing changed for it: the next start uses them. */
  { kind: 'none' } | { kind: 'applied'; changes: string } | { kind: 'restart'; reason: string };

const MIB = 1024 * 1024;

/**
 * The limits of one child process, from before it starts until after it is
 * gone: its cgroup and rlimits (through the wrapped command), the watchdog's
 * samples while it runs, and the clean-up of every process it left.
 */
export class ChildLimits {
  private watch: WatchHandle | undefined;
  private violation: Violation | undefined;
  /** Updates run one after the other, so two quick reloads land in order. */
  private updating: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly limits: TenantLimits,
    private readonly hostLimits: HostLimits,
  ) {}

  /** Creates the child's cgroup (where the host has one) before it starts. */
  static prepare(hostLimits: HostLimits, tenantId: string, limits: Limits): ChildLimits {
    return new ChildLimits(TenantLimits.prepare(tenantId, limits, hostLimits.report), hostLimits);
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
    this.watch = this.hostLimits.watchdog.watch(pid, this.limits.limits, {
      cpuEnforcedByKernel: this.limits.cpuEnforcedByKernel,
      members: () => this.limits.members(),
      onSample: hooks.onSample,
      onViolation: (violation) => {
        if (violation.kind !== 'cpu') this.violation ??= violation;
        hooks.onViolation(violation);
      },
    });
  }

  /**
   * Gives the running child `pid` new limits without restarting it: cgroup
   * and rlimits first, then the watchdog judges by them from its next
   * sample. Resolves `restart` with the reason when they cannot change live.
   */
  update(next: Limits, pid: number): Promise<LimitsUpdate> {
    const run = async (): Promise<LimitsUpdate> => {
      const before = this.limits.limits;
      const changes = describeChanges(before, next);
      if (changes === '') return { kind: 'none' };
      const reason = await this.limits.update(next, pid, this.latestSample());
      if (reason !== undefined) return { kind: 'restart', reason };
      this.watch?.update(next, this.limits.cpuEnforcedByKernel);
      return { kind: 'applied', changes };
    };
    const result = this.updating.then(run);
    this.updating = result.catch(() => undefined);
    return result;
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
