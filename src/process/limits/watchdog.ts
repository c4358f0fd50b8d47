import type { Limits } from '../../core/config.js';
import { type CpuEnforcement, CpuGovernor } from './cpu-governor.js';
import { DutyCycle } from './duty-cycle.js';
import { procClock, readGroups, readStat, sumStats } from './proc-stats.js';
import type { ProcessSample, Violation } from './types.js';

const MIB = 1024 * 1024;

export interface GroupTotals {
  rssBytes: number;
  cpuSeconds: number;
  pids: number;
  processes: number;
}

export interface WatchTarget {
  pgid: number;
  /** Members known from elsewhere (a cgroup's procs); else the process group is scanned. */
  members?: number[] | undefined;
}

/** Reads the totals of many children at once; a pgid with nothing alive is left out. */
export type Sampler = (targets: readonly WatchTarget[]) => Map<number, GroupTotals>;

export interface WatchdogOptions {
  /** Between samples; default 1000. */
  intervalMs?: number;
  now?: () => number;
  /** Samples over the CPU limit before acting; default 3. */
  sustainSamples?: number;
  /** Default `throttle` (SIGSTOP/SIGCONT); `record` only reports. */
  cpuEnforcement?: CpuEnforcement;
  /** Length of one throttle period; default 100 ms. */
  dutyPeriodMs?: number;
  sampler?: Sampler;
  /** Sends a signal; negative targets are process groups. Default `process.kill`. */
  signal?: (target: number, signal: 'SIGSTOP' | 'SIGCONT') => void;
}

export interface WatchHooks {
  onViolation(violation: Violation): void;
  /** A cgroup caps CPU already: never throttle, only report. */
  cpuEnforcedByKernel: boolean;
  /** Members from the child's cgroup, so processes that left the group are counted too. */
  members?: () => number[] | undefined;
  /** Every sample, for telemetry. */
  onSample?: (sample: ProcessSample) => void;
}

export interface WatchHandle {
  /** Idempotent; resumes the group if it was being throttled. */
  stop(): void;
  latest(): ProcessSample | undefined;
  /** New limits, judged from the next sample on (a reload changed them). */
  update(limits: Limits, cpuEnforcedByKernel: boolean): void;
}

/** Samples /proc: cgroup members directly, everything else by one scan for their groups. */
export const procSampler: Sampler = (targets) => {
  const clock = procClock();
  const totals = new Map<number, GroupTotals>();
  const scanned = new Set<number>();
  for (const target of targets) {
    if (target.members === undefined) {
      scanned.add(target.pgid);
      continue;
    }
    const stats = target.members.flatMap((pid) => readStat(pid) ?? []);
    if (stats.length > 0) totals.set(target.pgid, sumStats(stats, clock));
  }
  if (scanned.size > 0) {
    for (const [pgid, stats] of readGroups(scanned)) totals.set(pgid, sumStats(stats, clock));
  }
  return totals;
};

function sendSignal(target: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
  try {
    process.kill(target, signal);
  } catch {
    // Gone already.
  }
}

const EMPTY: GroupTotals = { rssBytes: 0, cpuSeconds: 0, pids: 0, processes: 0 };

type WatchOptions = Required<
  Pick<WatchdogOptions, 'sustainSamples' | 'cpuEnforcement' | 'dutyPeriodMs' | 'signal'>
>;

class Watch {
  last: ProcessSample | undefined;
  private governor: CpuGovernor | undefined;
  readonly duty: DutyCycle;
  private members: number[] | undefined;
  private overMemory = false;
  private overPids = false;
  private cpuEnforcedByKernel: boolean;

  constructor(
    readonly pgid: number,
    private limits: Limits,
    private readonly hooks: WatchHooks,
    private readonly options: WatchOptions,
  ) {
    this.cpuEnforcedByKernel = hooks.cpuEnforcedByKernel;
    this.governor = this.governorFor(limits.cpu);
    this.duty = new DutyCycle((signal) => {
      options.signal(-pgid, signal);
      for (const pid of this.members ?? []) if (pid !== pgid) options.signal(pid, signal);
    }, options.dutyPeriodMs);
  }

  /**
   * The thresholds of the next sample on. A changed CPU limit keeps the
   * governor and its window, so a throttled group is re-paced at once rather
   * than let go; a group no longer to be throttled by us runs freely again.
   */
  update(limits: Limits, cpuEnforcedByKernel: boolean): void {
    this.limits = limits;
    this.cpuEnforcedByKernel = cpuEnforcedByKernel;
    this.governor = this.governorFor(limits.cpu);
    if (!this.governor || cpuEnforcedByKernel) this.duty.set(1);
  }

  private governorFor(cpu: number | undefined): CpuGovernor | undefined {
    if (cpu === undefined) return undefined;
    // A cgroup caps CPU already: only report.
    const mode = this.cpuEnforcedByKernel ? 'record' : this.options.cpuEnforcement;
    if (this.governor?.mode === mode) {
      this.governor.limitCores = cpu;
      return this.governor;
    }
    return new CpuGovernor(cpu, {
      sustainSamples: this.options.sustainSamples,
      tolerance: 0.1,
      mode,
    });
  }

  target(): WatchTarget {
    this.members = this.hooks.members?.();
    return { pgid: this.pgid, members: this.members };
  }

  record(totals: GroupTotals, at: number): void {
    const last = this.last;
    const seconds = last ? (at - last.at) / 1000 : 0;
    const cores =
      last && seconds > 0 ? Math.max(0, (totals.cpuSeconds - last.cpuSeconds) / seconds) : 0;
    if (last && this.governor) {
      const step = this.governor.observe(cores);
      if (step.violation && this.limits.cpu !== undefined) {
        this.hooks.onViolation({
          kind: 'cpu',
          pgid: this.pgid,
          cores: step.violation.cores,
          limitCores: this.limits.cpu,
          action: step.violation.action,
        });
      }
      if (!this.cpuEnforcedByKernel) this.duty.set(step.duty);
    }
    this.last = { at, ...totals, cores, duty: this.duty.current };
    this.hooks.onSample?.(this.last);
    this.check(totals);
  }

  private check(totals: GroupTotals): void {
    const { memory_mb: memoryMb, pids } = this.limits;
    if (memoryMb !== undefined) {
      const over = totals.rssBytes > memoryMb * MIB;
      if (over && !this.overMemory) {
        this.hooks.onViolation({
          kind: 'memory',
          pgid: this.pgid,
          rssBytes: totals.rssBytes,
          limitBytes: memoryMb * MIB,
        });
      }
      this.overMemory = over;
    }
    if (pids !== undefined) {
      const over = totals.pids > pids;
      if (over && !this.overPids) {
        this.hooks.onViolation({ kind: 'pids', pgid: this.pgid, pids: totals.pids, limit: pids });
      }
      this.overPids = over;
    }
  }
}

/**
 * Samples every watched child's process group at an interval: memory (RSS),
 * CPU time and task count. Reports a child over its memory or pids limit
 * (the caller kills and restarts it), and one over its CPU limit for a
 * sustained window, which it also throttles with a SIGSTOP/SIGCONT duty
 * cycle unless a cgroup caps CPU already or `cpuEnforcement` is `record`.
 * One timer for all children, unref'd.
 */
export class Watchdog {
  private readonly watches = new Set<Watch>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly sampler: Sampler;
  private readonly watchOptions: WatchOptions;

  constructor(options: WatchdogOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.now = options.now ?? Date.now;
    this.sampler = options.sampler ?? procSampler;
    this.watchOptions = {
      sustainSamples: options.sustainSamples ?? 3,
      cpuEnforcement: options.cpuEnforcement ?? 'throttle',
      dutyPeriodMs: options.dutyPeriodMs ?? 100,
      signal: options.signal ?? sendSignal,
    };
  }

  /** Starts sampling the process group `pgid` (the child's pid: it leads its own group). */
  watch(pgid: number, limits: Limits, hooks: WatchHooks): WatchHandle {
    const watch = new Watch(pgid, limits, hooks, this.watchOptions);
    this.watches.add(watch);
    this.sample([watch]);
    if (!this.timer) {
      this.timer = setInterval(() => this.sample([...this.watches]), this.intervalMs);
      this.timer.unref();
    }
    return {
      stop: () => this.unwatch(watch),
      latest: () => watch.last,
      update: (limits, cpuEnforcedByKernel) => watch.update(limits, cpuEnforcedByKernel),
    };
  }

  /** Stops every watch (resuming throttled groups) and the timer. Idempotent. */
  stop(): void {
    for (const watch of [...this.watches]) this.unwatch(watch);
  }

  private unwatch(watch: Watch): void {
    watch.duty.stop();
    this.watches.delete(watch);
    if (this.watches.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private sample(watches: readonly Watch[]): void {
    if (watches.length === 0) return;
    const totals = this.sampler(watches.map((watch) => watch.target()));
    const at = this.now();
    for (const watch of watches) {
      // A hook may have stopped another watch during this round.
      if (this.watches.has(watch)) watch.record(totals.get(watch.pgid) ?? EMPTY, at);
    }
  }
}
