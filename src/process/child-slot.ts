import type { ChildEvents } from '../core/child-events.js';
import type { Limits } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { JsonRpcMessage } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import {
  ChildLimits,
  describeViolation,
  type Isolation,
  type LimitsStatus,
  type LimitsUpdate,
} from './child-limits.js';
import { ChildLink } from './child-link.js';
import type { SpawnPlan } from './child-process.js';
import type { Violation } from './limits/index.js';
import { RestartPolicy } from './restart-policy.js';

export type ChildSlotState =
  | 'stopped'
  | 'starting'
  | 'running'
  | 'backoff'
  | 'quarantined'
  | 'closed';

export interface ChildSlotOptions {
  tenantId: string;
  plan: () => SpawnPlan;
  /** The tenant's current limits, applied at every start. */
  limits: () => Limits;
  /** Absent: children run without cgroups, rlimits or watchdog (unit tests). */
  isolation?: (() => Isolation) | undefined;
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
  onMessage: (message: JsonRpcMessage) => void;
  /** The child is ready (first start or restart). */
  onReady: (link: ChildLink) => void;
  /** The child is gone; `crashed` is false when we stopped it on purpose. */
  onExit: (reason: string, crashed: boolean) => void;
  /** True when nothing is waiting on the child, so an idle stop is safe. */
  isQuiet: () => boolean;
}

/**
 * The place of one tenant's child: starts it on first use, restarts it with
 * back-off after a crash (and quarantines a crash loop), stops it when idle,
 * and stops it for good on close. The relay asks it for a ready link.
 */
export class ChildSlot {
  private link: ChildLink | undefined;
  /** The limits of the running child. */
  private linkLimits: ChildLimits | undefined;
  private readyAt: Date | undefined;
  private starting: Promise<ChildLink> | undefined;
  private readonly policy: RestartPolicy;
  private lastUsed = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private stoppingOnPurpose = false;
  private closed = false;
  private startCount = 0;
  /** The last child crashed or failed to start: the next start is a restart. */
  private afterCrash = false;

  constructor(private readonly options: ChildSlotOptions) {
    this.policy = options.policy ?? new RestartPolicy();
  }

  /** A live, initialized child, if there is one right now. */
  get current(): ChildLink | undefined {
    return this.link?.alive ? this.link : undefined;
  }

  get state(): ChildSlotState {
    if (this.closed) return 'closed';
    if (this.link?.alive) return 'running';
    if (this.starting) return 'starting';
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
    return this.link?.alive ? this.readyAt : undefined;
  }

  /** The running child's resident memory (whole tree) at the last watchdog sample. */
  get rssBytes(): number | undefined {
    return this.link?.alive ? this.linkLimits?.latestSample()?.rssBytes : undefined;
  }

  /** The running child's CPU use at the last watchdog sample, in cores. */
  get cpuCores(): number | undefined {
    return this.link?.alive ? this.linkLimits?.latestSample()?.cores : undefined;
  }

  /** Which mechanisms cap the running child's resources; undefined when none runs. */
  get limits(): LimitsStatus | undefined {
    return this.link?.alive ? this.linkLimits?.status : undefined;
  }

  touch(): void {
    this.lastUsed = Date.now();
  }

  /** A ready child: the running one, the one starting, or a new one. */
  async acquire(): Promise<ChildLink> {
    this.touch();
    if (this.closed) {
      throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
    }
    if (this.link?.alive) return this.link;
    if (this.starting) return this.starting;
    const verdict = this.policy.verdict();
    if (verdict.kind === 'quarantined') {
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `the tenant's server keeps crashing (last: ${verdict.reason}); quarantined for another ${Math.ceil(verdict.retryAfterMs / 1000)} s`,
        { data: { retry_after_ms: verdict.retryAfterMs, state: 'quarantined' } },
      );
    }
    if (verdict.kind === 'wait') {
      if (verdict.delayMs > this.options.maxWaitMs()) {
        throw new McpTenantsError(
          ErrorCode.CHILD_UNAVAILABLE,
          `the tenant's server crashed (${this.policy.reason}); it restarts in ${Math.ceil(verdict.delayMs / 1000)} s`,
          { data: { retry_after_ms: verdict.delayMs, state: 'backoff' } },
        );
      }
      this.starting = delay(verdict.delayMs).then(() => this.start());
    } else {
      this.starting = this.start();
    }
    return this.starting;
  }

  /** Stops the child on purpose (idle, reload); not counted as a crash. */
  async stop(reason: string): Promise<void> {
    const link = this.link ?? (await this.starting?.catch(() => undefined));
    if (!link?.alive) return;
    this.stoppingOnPurpose = true;
    await link.stop(reason);
  }

  /**
   * Gives the running child new limits where the host can change them live
   * (see ChildLimits.update). A child still starting was prepared with the
   * old ones, so it is waited for. No child: the next start uses them.
   */
  async applyLimits(limits: Limits): Promise<LimitsUpdate> {
    const link = this.link ?? (await this.starting?.catch(() => undefined));
    const childLimits = this.linkLimits;
    if (!link?.alive || link !== this.link || !childLimits) return { kind: 'none' };
    return childLimits.update(limits, link.pid);
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
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    const link = this.link ?? (await this.starting?.catch(() => undefined));
    this.stoppingOnPurpose = true;
    await link?.stop('supervisor shutdown');
  }

  /** A crash (or a failed start): counted by the back-off, and the next start is a restart. */
  private crashed(reason: string): void {
    this.afterCrash = true;
    this.policy.crashed(reason);
  }

  private async start(): Promise<ChildLink> {
    const { log, isolation, tenantId, events } = this.options;
    log.info('starting child');
    this.startCount += 1;
    const startedAt = performance.now();
    let limits: ChildLimits | undefined;
    try {
      limits = isolation
        ? ChildLimits.prepare(isolation(), tenantId, this.options.limits())
        : undefined;
      const plan = this.options.plan();
      const link = await ChildLink.open({
        plan: limits ? limits.wrap(plan) : plan,
        maxLineBytes: this.options.maxLineBytes,
        maxJsonDepth: this.options.maxJsonDepth,
        initializeTimeoutMs: this.options.initializeTimeoutMs(),
        log,
        onMessage: this.options.onMessage,
        onExit: (_exit, reason) => this.exited(link, reason, limits),
      });
      this.starting = undefined;
      if (this.closed) {
        void link.stop('supervisor shutdown');
        throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
      }
      this.link = link;
      this.linkLimits = limits;
      this.readyAt = new Date();
      this.stoppingOnPurpose = false;
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
      this.options.onReady(link);
      return link;
    } catch (error) {
      void limits?.release();
      this.starting = undefined;
      const message = error instanceof Error ? error.message : String(error);
      if (!this.closed) {
        this.crashed(message);
        log.error('child failed to start', { error: message });
      }
      throw error;
    }
  }

  private exited(link: ChildLink, reason: string, limits: ChildLimits | undefined): void {
    // Sampling stops first, and whatever the child left in its cgroup goes with it.
    limits?.stopWatching();
    const limit = limits?.limitKill;
    void limits?.release();
    if (this.link !== link) return;
    if (limit === 'oom')
      reason = `${reason}: the kernel's OOM killer stopped it at its memory limit (memory_mb)`;
    this.link = undefined;
    this.linkLimits = undefined;
    clearInterval(this.idleTimer);
    const crashed = !this.stoppingOnPurpose && !this.closed;
    if (crashed) this.crashed(reason);
    this.stoppingOnPurpose = false;
    this.options.events?.exited?.(this.options.tenantId, {
      pid: link.pid,
      reason,
      crashed,
      ...(limit ? { limit } : {}),
    });
    this.options.onExit(reason, crashed);
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
        if (!this.link?.alive || !this.options.isQuiet()) return;
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
