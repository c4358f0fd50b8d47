import type { ChildEvents } from '../core/child-events.js';
import type { TenantConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import type { SpawnPlan } from '../process/child-process.js';
import { ChildSlot } from '../process/child-slot.js';
import type { HostLimits } from '../process/host-limits.js';
import type { RestartPolicy } from '../process/restart-policy.js';
import { TenantRelay } from '../relay/tenant-relay.js';

export interface RelayedChildOptions {
  tenant: TenantConfig;
  /** Builds the child's command line from the current config; called for every (re)start. */
  plan: (tenant: TenantConfig) => SpawnPlan | Promise<SpawnPlan>;
  restartPolicy?: RestartPolicy | undefined;
  maxLineBytes: number;
  /** Deepest JSON the child's stdout lines may nest (`server.max_json_depth`). */
  maxJsonDepth: number;
  log: Logger;
  /** Policy, quota and telemetry stages every client request passes, in order. */
  stages?: readonly RequestStage[] | undefined;
  /** Lifecycle of the tenant's child(ren), for telemetry. */
  events?: ChildEvents | undefined;
  /** Cgroups, rlimits and watchdog; absent: the child runs unlimited. */
  hostLimits?: (() => HostLimits) | undefined;
  /** An extra instance of an elastic tenant: its own cgroup name, and it always stops when idle. */
  instance?: { limitsKey: string; idleTimeoutMs: number } | undefined;
}

/**
 * One child slot and the relay in front of it: what the registry creates
 * for a tenant (or, with `isolation: session`, for one session), reconfigures
 * on reload and closes. The relay routes; the slot owns the process.
 */
export class RelayedChild {
  readonly relay: TenantRelay;
  private slotOf: ChildSlot | undefined;
  private closed = false;

  constructor(private readonly options: RelayedChildOptions) {
    this.relay = new TenantRelay({
      tenant: options.tenant,
      log: options.log,
      stages: options.stages,
      child: (listener) => {
        const tenant = () => this.relay.config;
        this.slotOf = new ChildSlot({
          tenantId: options.tenant.id,
          limitsKey: options.instance?.limitsKey,
          plan: () => options.plan(tenant()),
          limits: () => tenant().limits,
          hostLimits: options.hostLimits,
          events: options.events,
          maxLineBytes: options.maxLineBytes,
          maxJsonDepth: options.maxJsonDepth,
          log: options.log,
          initializeTimeoutMs: () => tenant().start_timeout_ms,
          maxWaitMs: () => tenant().request_timeout_ms,
          idleTimeoutMs: () =>
            options.instance
              ? tenant().idle_timeout_ms || options.instance.idleTimeoutMs
              : tenant().idle_timeout_ms,
          policy: options.restartPolicy,
          listener,
        });
        return this.slotOf;
      },
    });
  }

  /** The child's lifecycle: state, pid, restarts; `reset()` ends a quarantine. */
  get slot(): ChildSlot {
    // Set by the relay's constructor, which opens its child before returning.
    return this.slotOf as ChildSlot;
  }

  get pid(): number | undefined {
    return this.slot.pid;
  }

  /** Applies a reloaded configuration: timeouts and quotas at once; limits see `applyLimits`. */
  reconfigure(tenant: TenantConfig): void {
    this.relay.reconfigure(tenant);
  }

  /**
   * Gives the running child the tenant's current limits where the host can
   * change them live; otherwise restarts it once quiet, as for any other
   * change a process picks up only at start. Logs which. Never rejects.
   */
  async applyLimits(): Promise<void> {
    const log = this.options.log;
    const outcome = await this.slot.applyLimits(this.relay.config.limits);
    if (this.closed) return;
    if (outcome.kind === 'applied') {
      log.info('limits applied to the running child', { changed: outcome.changes });
    } else if (outcome.kind === 'restart') {
      log.info('limits change needs a restart; restarting when quiet', { reason: outcome.reason });
      this.restartWhenQuiet('limits changed');
    }
  }

  /**
   * Stops the child as soon as no request is in it, so the next request
   * starts one with the current configuration; sessions stay open.
   */
  restartWhenQuiet(reason: string): void {
    const attempt = (): void => {
      if (this.closed) return;
      if (this.relay.requestsInChild === 0) {
        void this.slot.stop(reason);
        return;
      }
      setTimeout(attempt, 50).unref();
    };
    attempt();
  }

  /** Starts the child now instead of on first use (`eager` tenants). */
  async warm(): Promise<void> {
    await this.slot.acquire();
  }

  /** Lets requests already in the child finish, up to `ms`. */
  drain(ms: number): Promise<void> {
    return this.relay.drain(ms);
  }

  /** Fails what is pending, then stops the child gracefully. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.relay.close();
    await this.slot.close();
  }
}
