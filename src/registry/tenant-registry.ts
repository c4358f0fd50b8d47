import type { ChildEvents } from '../core/child-events.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  type Limits,
  type Manifest,
  type TenantConfig,
} from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { LogFields, Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import type { SpawnPlan } from '../process/child-process.js';
import type { HostLimits } from '../process/host-limits.js';
import { spawnPlan } from '../process/spawn-plan.js';
import type { TenantRelay } from '../relay/tenant-relay.js';
import { ElasticScaler, leastBusy } from './elastic.js';
import { RelayedChild } from './relayed-child.js';
import type { RelayLease, TenantStatus, Tenants } from './tenants.js';

/** What the supervisor plugs into every tenant's relay (stages) and child slot (events, limits). */
export interface RegistryHooks {
  /** Policy, quota and telemetry stages, in the order a request passes them. */
  stages?: readonly RequestStage[];
  events?: ChildEvents;
  /** Cgroups, rlimits and watchdog for every child (found on first use); absent: unlimited. */
  hostLimits?: () => HostLimits;
  /**
   * Variables a tenant's child gets besides the manifest's, decided at each
   * start (its lease epoch, its own store credentials). Absent: none.
   */
  childEnv?: (tenant: TenantConfig) => Promise<Record<string, string>>;
  /** In a cluster: the node serving a tenant, for `status()`. */
  nodeOf?: (tenantId: string) => string | null;
}

/**
 * The tenants of the running manifest and their relays. A relay (and so a
 * child process) exists only once a tenant is first used.
 */
export class TenantRegistry implements Tenants {
  private readonly shared = new Map<string, RelayedChild>();
  /** Children an elastic tenant (`max_instances` > 1) runs besides its shared one. */
  private readonly extras = new Map<string, RelayedChild[]>();
  private readonly scaler: ElasticScaler;
  /** Children of `isolation: session` tenants, one per live session. */
  private readonly perSession = new Map<string, Set<RelayedChild>>();
  private nextSession = 1;
  private closing: Promise<void> | undefined;

  constructor(
    private manifest: Manifest,
    private readonly log: Logger,
    private readonly hooks: RegistryHooks = {},
  ) {
    this.scaler = new ElasticScaler({
      tenants: () => this.manifest.tenants.values(),
      instances: (id) => this.instancesOf(id),
      add: (tenant) => this.addInstance(tenant),
      remove: (id, relayed) => this.removeInstance(id, relayed),
    });
  }

  get tenantIds(): string[] {
    return [...this.manifest.tenants.keys()];
  }

  has(tenantId: string): boolean {
    return this.manifest.tenants.has(tenantId);
  }

  /**
   * The tenant's shared relay, created on first use, for requests that have
   * no session of their own (the stateless revision). Unknown tenants are refused.
   */
  relayFor(tenantId: string): TenantRelay {
    const shared = this.sharedChild(tenantId);
    const extras = this.extras.get(tenantId);
    return extras ? leastBusy(shared, extras).relay : shared.relay;
  }

  private sharedChild(tenantId: string): RelayedChild {
    const existing = this.shared.get(tenantId);
    if (existing) return existing;
    const tenant = this.tenant(tenantId);
    if (tenant.isolation === 'session') {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        `tenant "${tenantId}" runs one child per session (isolation: session); connect with a session (initialize) instead of stateless requests`,
      );
    }
    const relayed = this.newRelayed(tenant, { tenant: tenantId });
    this.shared.set(tenantId, relayed);
    if (tenant.max_instances > 1) this.scaler.watch();
    return relayed;
  }

  /** The shared child and the extras of an elastic tenant, in the order they started. */
  private instancesOf(tenantId: string): RelayedChild[] {
    const shared = this.shared.get(tenantId);
    return shared ? [shared, ...(this.extras.get(tenantId) ?? [])] : [];
  }

  private addInstance(tenant: TenantConfig): void {
    const extras = this.extras.get(tenant.id) ?? [];
    const index = extras.length + 2;
    const relayed = this.newRelayed(
      tenant,
      { tenant: tenant.id, instance: index },
      { limitsKey: `${tenant.id}.${index}`, idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS },
    );
    this.extras.set(tenant.id, [...extras, relayed]);
    this.log.info('load stays high: starting another child for the tenant', {
      tenant: tenant.id,
      instances: index,
    });
    relayed.warm().catch(() => {
      // Logged by the child slot; the instance is reaped as stopped.
    });
  }

  private removeInstance(tenantId: string, relayed: RelayedChild): void {
    const extras = (this.extras.get(tenantId) ?? []).filter((extra) => extra !== relayed);
    if (extras.length > 0) this.extras.set(tenantId, extras);
    else this.extras.delete(tenantId);
    void relayed.close();
  }

  /** The relay a new session uses: the shared one, or a child of its own. */
  lease(tenantId: string): RelayLease {
    const tenant = this.tenant(tenantId);
    if (tenant.isolation === 'tenant') {
      const shared = this.sharedChild(tenantId);
      const extras = this.extras.get(tenantId);
      // A new session goes to the instance with the fewest sessions and requests.
      return { relay: (extras ? leastBusy(shared, extras) : shared).relay, release: () => {} };
    }
    const live = this.perSession.get(tenantId) ?? new Set<RelayedChild>();
    if (live.size >= tenant.max_sessions) {
      throw new McpTenantsError(
        ErrorCode.QUOTA_EXCEEDED,
        `tenant "${tenantId}" already has ${tenant.max_sessions} sessions, each with its own child (max_sessions); close one first`,
      );
    }
    const relayed = this.newRelayed(tenant, { tenant: tenantId, child: this.nextSession++ });
    live.add(relayed);
    this.perSession.set(tenantId, live);
    let released = false;
    return {
      relay: relayed.relay,
      release: () => {
        if (released) return;
        released = true;
        live.delete(relayed);
        void relayed.close();
      },
    };
  }

  private tenant(tenantId: string): TenantConfig {
    if (this.closing) {
      throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
    }
    const tenant = this.manifest.tenants.get(tenantId);
    if (!tenant) {
      throw new McpTenantsError(
        ErrorCode.TENANT_UNKNOWN,
        `tenant "${tenantId}" is not in the manifest; add it with \`mcp-tenants add-tenant ${tenantId}\``,
      );
    }
    return tenant;
  }

  private newRelayed(
    tenant: TenantConfig,
    fields: LogFields,
    instance?: { limitsKey: string; idleTimeoutMs: number },
  ): RelayedChild {
    return new RelayedChild({
      instance,
      tenant,
      plan: (current) => this.planFor(current),
      maxLineBytes: this.manifest.server.max_line_bytes,
      maxJsonDepth: this.manifest.server.max_json_depth,
      log: this.log.with(fields),
      stages: this.hooks.stages,
      events: this.hooks.events,
      hostLimits: this.hooks.hostLimits,
    });
  }

  /** The child's command line; the built-in server also gets an IPC channel for its figures. */
  private async planFor(tenant: TenantConfig): Promise<SpawnPlan> {
    const base = spawnPlan(tenant, this.manifest.server.data_dir);
    const extra = this.hooks.childEnv ? await this.hooks.childEnv(tenant) : undefined;
    const plan = extra ? { ...base, env: { ...base.env, ...extra } } : base;
    const onMessage = this.hooks.events?.message;
    if (tenant.command !== undefined || !onMessage) return plan;
    return {
      ...plan,
      ipc: (message: unknown, pid: number) => onMessage(tenant.id, { pid, message }),
    };
  }

  /**
   * Applies a reloaded manifest: removed tenants' children stop, changed
   * tenants get their new settings (a changed command or environment
   * restarts the child once it is quiet; changed limits are applied to the
   * running child where the host allows, else they restart it the same way;
   * per-session children alike), added tenants become available.
   * Returns the ids of removed tenants so the fronts can end their sessions.
   */
  update(next: Manifest): { added: string[]; removed: string[]; changed: string[] } {
    const previous = this.manifest;
    this.manifest = next;
    const added = [...next.tenants.keys()].filter((id) => !previous.tenants.has(id));
    const removed = [...previous.tenants.keys()].filter((id) => !next.tenants.has(id));
    const changed: string[] = [];
    for (const id of removed) void this.evict(id);
    for (const [id, tenant] of next.tenants) {
      const before = previous.tenants.get(id);
      if (!before || JSON.stringify(before) === JSON.stringify(tenant)) continue;
      changed.push(id);
      const all = [...this.instancesOf(id), ...(this.perSession.get(id) ?? [])];
      for (const relayed of all) reconfigure(relayed, before, tenant);
    }
    return { added, removed, changed };
  }

  /**
   * Whether nothing of the tenant is under way here: no session, no request
   * in its child, no child starting. Only such a tenant may move elsewhere.
   */
  isIdle(tenantId: string): boolean {
    if ((this.perSession.get(tenantId)?.size ?? 0) > 0) return false;
    return this.instancesOf(tenantId).every(
      (relayed) =>
        relayed.relay.sessionCount === 0 &&
        relayed.relay.requestsInChild === 0 &&
        relayed.slot.state !== 'starting',
    );
  }

  /**
   * Stops a tenant's children here (it stays in the manifest): another node
   * serves it now. The next request here starts a child again.
   */
  evict(tenantId: string): Promise<void> {
    const all = [...this.instancesOf(tenantId), ...(this.perSession.get(tenantId) ?? [])];
    this.shared.delete(tenantId);
    this.extras.delete(tenantId);
    this.perSession.delete(tenantId);
    return Promise.all(all.map((relayed) => relayed?.close())).then(() => undefined);
  }

  /** Starts the children of `eager` tenants now; failures are logged, not fatal. */
  warmEager(): void {
    for (const tenant of this.manifest.tenants.values()) {
      if (!tenant.eager || tenant.isolation === 'session') continue;
      this.sharedChild(tenant.id)
        .warm()
        .catch(() => {
          // Logged by the child slot; the next request retries.
        });
    }
  }

  /** One line of state per tenant of the manifest, for /admin/tenants, the status page and `tenants`. */
  status(): TenantStatus[] {
    return [...this.manifest.tenants.values()].map((tenant) => {
      const shared = this.shared.get(tenant.id);
      const perSession = this.perSession.get(tenant.id);
      const extras = this.extras.get(tenant.id) ?? [];
      const slot = shared?.slot;
      return {
        id: tenant.id,
        name: tenant.name,
        state: slot?.state ?? (perSession && perSession.size > 0 ? 'running' : 'stopped'),
        pid: slot?.pid ?? null,
        sessions:
          (shared?.relay.sessionCount ?? 0) +
          extras.reduce((sum, extra) => sum + extra.relay.sessionCount, 0) +
          (perSession?.size ?? 0),
        restarts: slot?.restarts ?? 0,
        crashes: slot?.crashes ?? 0,
        last_crash: slot?.lastCrashReason || null,
        limits: slot?.limits ?? null,
        started_at: slot?.startedAt?.toISOString() ?? null,
        rss_bytes: slot?.rssBytes ?? null,
        uid: tenant.run_as?.uid ?? null,
        gid: tenant.run_as?.gid ?? null,
        ...(this.hooks.nodeOf ? { node: this.hooks.nodeOf(tenant.id) } : {}),
        ...(tenant.max_instances > 1
          ? { instances: this.instancesOf(tenant.id).filter((one) => one.pid !== undefined).length }
          : {}),
      };
    });
  }

  /** CPU use of the tenant's shared child at the last watchdog sample, in cores. */
  cpuCores(tenantId: string): number | undefined {
    return this.shared.get(tenantId)?.slot.cpuCores;
  }

  /** The tenant's configured limits. */
  limitsOf(tenantId: string): Limits | undefined {
    return this.manifest.tenants.get(tenantId)?.limits;
  }

  /** An operator's reset of a tenant's crash history: ends its quarantine. */
  reset(tenantId: string): void {
    this.shared.get(tenantId)?.slot.reset();
  }

  /** Every child slot with its relay, shared and per session. */
  private allRelayed(): RelayedChild[] {
    const perSession = [...this.perSession.values()].flatMap((relayed) => [...relayed]);
    const extras = [...this.extras.values()].flat();
    return [...this.shared.values(), ...extras, ...perSession];
  }

  /** Lets requests already in the children finish, up to `ms`. */
  async drain(ms: number): Promise<void> {
    await Promise.all(this.allRelayed().map((relayed) => relayed.drain(ms)));
  }

  /** Stops every child in parallel. Idempotent. */
  close(): Promise<void> {
    this.scaler.stop();
    this.closing ??= Promise.all(this.allRelayed().map((relayed) => relayed.close())).then(
      () => undefined,
    );
    return this.closing;
  }
}

/** One running relay of a changed tenant: new settings now, its child restarted if it must be. */
function reconfigure(relayed: RelayedChild, before: TenantConfig, after: TenantConfig): void {
  relayed.reconfigure(after);
  if (spawnChanged(before, after)) relayed.restartWhenQuiet('configuration reloaded');
  else if (JSON.stringify(before.limits) !== JSON.stringify(after.limits))
    void relayed.applyLimits();
}

/**
 * Settings that only a new process can pick up. Of the quotas only
 * `max_storage_mb` (which the built-in server enforces itself); the others
 * are the supervisor's and apply to the next request. Limits are not here:
 * `applyLimits` decides, per host and child, whether they need a restart.
 */
function spawnChanged(before: TenantConfig, after: TenantConfig): boolean {
  const keys = ['command', 'args', 'env', 'tools_modules', 'run_as'] as const;
  if (before.quotas.max_storage_mb !== after.quotas.max_storage_mb) return true;
  return keys.some((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}
