import type { ChildEvents } from '../core/child-events.js';
import type { ChildHandle, ChildListener } from '../core/child-handle.js';
import type { Limits } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  ChildLimits,
  describeViolation,
  type LimitsStatus,
  type LimitsUpdate,
} from './child-limits.js';
import { ChildLink } from './child-link.js';
import type { SpawnPlan } from './child-process.js';
import type { HostLimits } from './host-limits.js';
import type { Violation } from './limits/index.js';
import { RestartPolicy } from './restart-policy.js';

/** What the status pages show of a slot. */
export type ChildSlotState =
  | 'stopped'
  | 'starting'
  | 'running'
  /** Asked to stop; its process has not exited yet. */
  | 'stopping'
  | 'backoff'
  | 'quarantined'
  | 'closed';

/**
 * Where the slot is; each state holds exactly what is true in it. A crashed
 * child leaves the slot `empty` like a stopped one: the restart policy says
 * whether the next start must wait (back-off) or is refused (quarantine).
 */
type SlotState =
  | { kind: 'empty' }
  | { kind: 'starting'; ready: Promise<ChildLink> }
  | {
      kind: 'running';
      link: ChildLink;
      /** The limits the child runs under; absent without host limits (unit tests). */
      limits: ChildLimits | undefined;
      readyAt: Date;
      /** Set once we asked the child to stop (idle, reload): its exit is no crash. */
      stopping: boolean;
    }
  /** For good; `link` is the child that was running then, whose exit is still reported. */
  | { kind: 'closed'; link: ChildLink | undefined };

export interface ChildSlotOptions {
  tenantId: string;
  /** Names the child's cgroup (default: the tenant id); one per instance of a tenant. */
  limitsKey?: string | undefined;
  /** How to start the child; may wait (e.g. for store credentials made for this start). */
  plan: () => SpawnPlan | Promise<SpawnPlan>;
  /** The tenant's current limits, applied at every start. */
  limits: () => Limits;
  /** Absent: children run without cgroups, rlimits or watchdog (unit tests). */
  hostLimits?: (() => HostLimits) | undefined;
  events?: ChildEvents | undefined;
  maxLineBytes: number;
  /** Deepest JSON the child's stdout lines may nest (`server.max_json_depth`). */
  maxJsonDepth: number;
  log: Logger;
  initializeTimeoutMs: () => number;
  /** Longest a request may wait for a back-off to pass before failing fast. */
  maxWaitMs: () => number;
  /** Stop a child that has had no traffic for this long (0: never). */
  idleTimeoutMs: () => number;
  policy?: RestartPolicy;
  /** Who hears of the child's messages, starts and exits (the tenant's relay). */
  listener: ChildListener;
}

/**
 * The place of one tenant's child: starts it on first use, restarts it with
 * back-off after a crash (and quarantines a crash loop), stops it when idle,
 * and stops it for good on close. The relay asks it for a ready link.
 */
export class ChildSlot implements ChildHandle {
  private phase: SlotState = { kind: 'empty' };
  /** Children asked to stop that were replaced before they exited; their exits are still reported. */
  private readonly retiring = new Set<ChildLink>();
  private readonly policy: RestartPolicy;
  private lastUsed = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private startCount = 0;
  /** The last child crashed or failed to start: the next start is a restart. */
  private afterCrash = false;

  constructor(private readonly options: ChildSlotOptions) {
    this.policy = options.policy ?? new RestartPolicy();
  }

  /** The running child, while it is alive. */
  private get running(): Extract<SlotState, { kind: 'running' }> | undefined {
    return this.phase.kind === 'running' && this.phase.link.alive ? this.phase : undefined;
  }

  /** A live, initialized child, if there is one right now. */
  get current(): ChildLink | undefined {
    return this.running?.link;
  }

  get state(): ChildSlotState {
    if (this.phase.kind === 'closed') return 'closed';
    if (this.running) return 'running';
    if (this.phase.kind === 'running') return 'stopping';
    if (this.phase.kind === 'starting') return 'starting';
    const policy = this.policy.state;
    return policy === 'ok' ? 'stopped' : policy;
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  /** Starts after the first: each one followed a crash, an idle stop or a reload. */
  get restarts(): number {
    return Math.max(0, this.startCount - 1);
  }

  get crashes(): number {
    return this.policy.crashes;
  }

  get lastCrashReason(): string {
    return this.policy.reason;
  }

  /** When the running child became ready. */
  get startedAt(): Date | undefined {
    return this.running?.readyAt;
  }

  /** The running child's resident memory (whole tree) at the last watchdog sample. */
  get rssBytes(): number | undefined {
    return this.running?.limits?.latestSample()?.rssBytes;
  }

  /** The running child's CPU use at the last watchdog sample, in cores. */
  get cpuCores(): number | undefined {
    return this.running?.limits?.latestSample()?.cores;
  }

  /** Which mechanisms cap the running child's resources; undefined when none runs. */
  get limits(): LimitsStatus | undefined {
    return this.running?.limits?.status;
  }

  touch(): void {
    this.lastUsed = Date.now();
  }

  /** A ready child: the running one, the one starting, or a new one. */
  async acquire(): Promise<ChildLink> {
    this.touch();
    const phase = this.phase;
    if (phase.kind === 'closed') {
      throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
    }
    if (phase.kind === 'running' && phase.link.alive) return phase.link;
    if (phase.kind === 'starting') return phase.ready;
    const verdict = this.policy.verdict();
    if (verdict.kind === 'quarantined') {
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `the tenant's server keeps crashing (last: ${verdict.reason}); quarantined for another ${Math.ceil(verdict.retryAfterMs / 1000)} s`,
        { data: { retry_after_ms: verdict.retryAfterMs, state: 'quarantined' } },
      );
    }
    if (verdict.kind === 'wait' && verdict.delayMs > this.options.maxWaitMs()) {
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `the tenant's server crashed (${this.policy.reason}); it restarts in ${Math.ceil(verdict.delayMs / 1000)} s`,
        { data: { retry_after_ms: verdict.delayMs, state: 'backoff' } },
      );
    }
    // A child still exiting (asked to stop) is replaced now; its exit comes later.
    if (phase.kind === 'running') this.retiring.add(phase.link);
    const ready =
      verdict.kind === 'wait' ? delay(verdict.delayMs).then(() => this.start()) : this.start();
    this.phase = { kind: 'starting', ready };
    return ready;
  }

  /** The running child; one that is starting is waited for, a running one is had at once. */
  private async settled(): Promise<Extract<SlotState, { kind: 'running' }> | undefined> {
    if (this.phase.kind === 'starting') await this.phase.ready.catch(() => undefined);
    return this.running;
  }

  /** Stops the child on purpose (idle, reload); not counted as a crash. */
  async stop(reason: string): Promise<void> {
    // Marked in this very tick when a child runs, so no request is handed to it meanwhile.
    const running = this.phase.kind === 'starting' ? await this.settled() : this.running;
    if (!running) return;
    running.stopping = true;
    await running.link.stop(reason);
  }

  /**
   * Gives the running child new limits where the host can change them live
   * (see ChildLimits.update). A child still starting was prepared with the
   * old ones, so it is waited for. No child: the next start uses them.
   */
  async applyLimits(limits: Limits): Promise<LimitsUpdate> {
    const running = await this.settled();
    if (!running?.limits) return { kind: 'none' };
    return running.limits.update(limits, running.link.pid);
  }

  /** Kills the child now; counted as a crash (limits, tests). */
  kill(reason: string): void {
    this.current?.kill(reason);
  }

  /** An operator's reset of the crash history (ends a quarantine). */
  reset(): void {
    this.policy.reset();
  }

  async close(): Promise<void> {
    const before = this.phase;
    if (before.kind === 'closed') return;
    const running = before.kind === 'running' ? before.link : undefined;
    this.phase = { kind: 'closed', link: running };
    clearInterval(this.idleTimer);
    // A child still starting sees the slot closed and stops itself.
    if (before.kind === 'starting') await before.ready.catch(() => undefined);
    await Promise.all([running, ...this.retiring].map((link) => link?.stop('supervisor shutdown')));
  }

  /** A crash (or a failed start): counted by the back-off, and the next start is a restart. */
  private crashed(reason: string): void {
    this.afterCrash = true;
    this.policy.crashed(reason);
  }

  private async start(): Promise<ChildLink> {
    const { log, hostLimits, tenantId, events } = this.options;
    log.info('starting child');
    this.startCount += 1;
    const startedAt = performance.now();
    let limits: ChildLimits | undefined;
    try {
      limits = hostLimits
        ? ChildLimits.prepare(
            hostLimits(),
            this.options.limitsKey ?? tenantId,
            this.options.limits(),
          )
        : undefined;
      const plan = await this.options.plan();
      const link = await ChildLink.open({
        plan: limits ? limits.wrap(plan) : plan,
        maxLineBytes: this.options.maxLineBytes,
        maxJsonDepth: this.options.maxJsonDepth,
        initializeTimeoutMs: this.options.initializeTimeoutMs(),
        log,
        onMessage: (message) => this.options.listener.message(message, link),
        onExit: (_exit, reason) => this.exited(link, reason, limits),
      });
      if (this.phase.kind === 'closed') {
        void link.stop('supervisor shutdown');
        throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
      }
      this.phase = { kind: 'running', link, limits, readyAt: new Date(), stopping: false };
      this.policy.started();
      this.watchIdle();
      limits?.watchChild(link.pid, {
        onViolation: (violation) => this.overLimit(link, violation),
        onSample: (sample) =>
          events?.sampled?.(tenantId, {
            pid: link.pid,
            cpuSeconds: sample.cpuSeconds,
            rssBytes: sample.rssBytes,
          }),
      });
      const restart = this.afterCrash;
      this.afterCrash = false;
      events?.started?.(tenantId, {
        pid: link.pid,
        startMs: performance.now() - startedAt,
        restart,
      });
      this.options.listener.ready();
      return link;
    } catch (error) {
      void limits?.release();
      const message = error instanceof Error ? error.message : String(error);
      if (this.phase.kind !== 'closed') {
        this.phase = { kind: 'empty' };
        if (isNotTheChilds(error)) {
          // Not started at all (no lease here, no store): nothing for the back-off to count.
          log.warn('child not started', { error: message });
        } else {
          this.crashed(message);
          log.error('child failed to start', { error: message });
        }
      }
      throw error;
    }
  }

  private exited(link: ChildLink, reason: string, limits: ChildLimits | undefined): void {
    // Sampling stops first, and whatever the child left in its cgroup goes with it.
    limits?.stopWatching();
    const limit = limits?.limitKill;
    void limits?.release();
    const phase = this.phase;
    const held = phase.kind === 'running' || phase.kind === 'closed' ? phase.link : undefined;
    // A replaced child was asked to stop: its exit is reported, and is no crash.
    const retired = this.retiring.delete(link);
    // A child stopped at once because the slot closed while it started was never held.
    if (held !== link && !retired) return;
    if (limit === 'oom')
      reason = `${reason}: the kernel's OOM killer stopped it at its memory limit (memory_mb)`;
    const crashed = !retired && phase.kind === 'running' && !phase.stopping;
    if (!retired) {
      clearInterval(this.idleTimer);
      if (phase.kind === 'running') this.phase = { kind: 'empty' };
    }
    if (crashed) this.crashed(reason);
    this.options.events?.exited?.(this.options.tenantId, {
      pid: link.pid,
      reason,
      crashed,
      ...(limit ? { limit } : {}),
    });
    this.options.listener.exited(reason, crashed, link);
  }

  /** Memory and pids: the child is killed (and restarted); CPU: logged, the throttle acts. */
  private overLimit(link: ChildLink, violation: Violation): void {
    const message = describeViolation(violation);
    if (violation.kind === 'cpu') {
      this.options.log.warn(`child ${message}`);
      return;
    }
    this.options.log.error(`child ${message}; killing it`);
    link.kill(message);
  }

  private watchIdle(): void {
    clearInterval(this.idleTimer);
    const idleMs = this.options.idleTimeoutMs();
    if (idleMs <= 0) return;
    this.idleTimer = setInterval(
      () => {
        if (!this.running || !this.options.listener.quiet()) return;
        if (Date.now() - this.lastUsed < this.options.idleTimeoutMs()) return;
        this.options.log.info('stopping idle child');
        void this.stop('idle');
      },
      Math.max(50, Math.min(idleMs / 2, 30_000)),
    );
    this.idleTimer.unref();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Refusals of a start that say nothing about the child: it never ran. */
function isNotTheChilds(error: unknown): boolean {
  if (!(error instanceof McpTenantsError)) return false;
  return (
    error.code === ErrorCode.NODE_UNAVAILABLE ||
    error.code === ErrorCode.STORE_UNAVAILABLE ||
    error.code === ErrorCode.SHUTTING_DOWN
  );
}
