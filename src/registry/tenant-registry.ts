import type { ChildEvents } from '../core/child-events.js';
import type { Limits, Manifest, TenantConfig } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { LogFields, Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import type { Isolation, LimitsStatus } from '../process/child-limits.js';
import { spawnPlan } from '../process/spawn-plan.js';
import { TenantRelay } from '../relay/tenant-relay.js';

export interface TenantStatus {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  sessions: number;
  restarts: number;
  crashes: number;
  last_crash: string | null;
  /** How the running child's limits are enforced; null when no child runs. */
  limits: LimitsStatus | null;
  /** When the running child became ready (ISO 8601); null when none runs. */
  started_at: string | null;
  /** Resident memory of the running child's whole tree at the last watchdog sample. */
  rss_bytes: number | null;
  /** The uid and gid its child runs as (`user:`/`group:`); null: the supervisor's own. */
  uid: number | null;
  gid: number | null;
}

/** What the supervisor plugs into every tenant's relay. */
export interface RegistryHooks {
  /** Policy, quota and telemetry stages, in the order a request passes them. */
  stages?: readonly RequestStage[];
  events?: ChildEvents;
  /** Cgroups, rlimits and watchdog for every child (found on first use); absent: unlimited. */
  isolation?: () => Isolation;
}

/** A relay held by one session; `release()` when the session ends. */
export interface RelayLease {
  relay: TenantRelay;
  release(): void;
}

/**
 * The tenants of the running manifest and their relays. A relay (and so a
 * child process) exists only once a tenant is first used.
 */
export class TenantRegistry {
  private readonly relays = new Map<string, TenantRelay>();
  /** Children of `isolation: session` tenants, one per live session. */
  private readonly sessionRelays = new Map<string, Set<TenantRelay>>();
  private nextSession = 1;
  private closing: Promise<void> | undefined;

  constructor(
    private manifest: Manifest,
    private readonly log: Logger,
    private readonly hooks: RegistryHooks = {},
  ) {}

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
    const existing = this.relays.get(tenantId);
    if (existing) return existing;
    const tenant = this.tenant(tenantId);
    if (tenant.isolation === 'session') {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        `tenant "${tenantId}" runs one child per session (isolation: session); connect with a session (initialize) instead of stateless requests`,
      );
    }
    const relay = this.newRelay(tenant, { tenant: tenantId });
    this.relays.set(tenantId, relay);
    return relay;
  }

  /** The relay a new session uses: the shared one, or a child of its own. */
  lease(tenantId: string): RelayLease {
    const tenant = this.tenant(tenantId);
    if (tenant.isolation === 'tenant') return { relay: this.relayFor(tenantId), release: () => {} };
    const live = this.sessionRelays.get(tenantId) ?? new Set<TenantRelay>();
    if (live.size >= tenant.max_sessions) {
      throw new McpTenantsError(
        ErrorCode.QUOTA_EXCEEDED,
        `tenant "${tenantId}" already has ${tenant.max_sessions} sessions, each with its own child (max_sessions); close one first`,
      );
    }
    const relay = this.newRelay(tenant, { tenant: tenantId, child: this.nextSession++ });
    live.add(relay);
    this.sessionRelays.set(tenantId, live);
    let released = false;
    return {
      relay,
      release: () => {
        if (released) return;
        released = true;
        live.delete(relay);
        void relay.close();
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

  private newRelay(tenant: TenantConfig, fields: LogFields): TenantRelay {
    return new TenantRelay({
      tenant,
      plan: (current) => this.planFor(current),
      maxLineBytes: this.manifest.server.max_line_bytes,
      maxJsonDepth: this.manifest.server.max_json_depth,
      log: this.log.with(fields),
      stages: this.hooks.stages,
      events: this.hooks.events,
      isolation: this.hooks.isolation,
    });
  }

  /** The child's command line; the built-in server also gets an IPC channel for its figures. */
  private planFor(tenant: TenantConfig) {
    const plan = spawnPlan(tenant, this.manifest.server.data_dir);
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
    for (const id of removed) {
      void this.relays.get(id)?.close();
      this.relays.delete(id);
      for (const relay of this.sessionRelays.get(id) ?? []) void relay.close();
      this.sessionRelays.delete(id);
    }
    for (const [id, tenant] of next.tenants) {
      const before = previous.tenants.get(id);
      if (!before || JSON.stringify(before) === JSON.stringify(tenant)) continue;
      changed.push(id);
      const shared = this.relays.get(id);
      const relays = [...(shared ? [shared] : []), ...(this.sessionRelays.get(id) ?? [])];
      for (const relay of relays) reconfigure(relay, before, tenant);
    }
    return { added, removed, changed };
  }

  /** Starts the children of `eager` tenants now; failures are logged, not fatal. */
  warmEager(): void {
    for (const tenant of this.manifest.tenants.values()) {
      if (!tenant.eager || tenant.isolation === 'session') continue;
      this.relayFor(tenant.id)
        .warm()
        .catch(() => {
          // Logged by the child slot; the next request retries.
        });
    }
  }

  /** One line of state per tenant of the manifest, for /admin/tenants, the status page and `tenants`. */
  status(): TenantStatus[] {
    return [...this.manifest.tenants.values()].map((tenant) => {
      const relay = this.relays.get(tenant.id);
      const perSession = this.sessionRelays.get(tenant.id);
      const child = relay?.child;
      return {
        id: tenant.id,
        name: tenant.name,
        state: child?.state ?? (perSession && perSession.size > 0 ? 'running' : 'stopped'),
        pid: child?.pid ?? null,
        sessions: (relay?.sessionCount ?? 0) + (perSession?.size ?? 0),
        restarts: child?.restarts ?? 0,
        crashes: child?.crashes ?? 0,
        last_crash: child?.lastCrashReason || null,
        limits: child?.limits ?? null,
        started_at: child?.startedAt?.toISOString() ?? null,
        rss_bytes: child?.rssBytes ?? null,
        uid: tenant.run_as?.uid ?? null,
        gid: tenant.run_as?.gid ?? null,
      };
    });
  }

  /** CPU use of the tenant's shared child at the last watchdog sample, in cores. */
  cpuCores(tenantId: string): number | undefined {
    return this.relays.get(tenantId)?.child.cpuCores;
  }

  /** The tenant's configured limits. */
  limitsOf(tenantId: string): Limits | undefined {
    return this.manifest.tenants.get(tenantId)?.limits;
  }

  /** An operator's reset of a tenant's crash history: ends its quarantine. */
  reset(tenantId: string): void {
    this.relays.get(tenantId)?.child.reset();
  }

  /** Running relays, for status and tests. */
  activeRelays(): TenantRelay[] {
    const perSession = [...this.sessionRelays.values()].flatMap((relays) => [...relays]);
    return [...this.relays.values(), ...perSession];
  }

  /** Stops every child in parallel. Idempotent. */
  /** Lets requests already in the children finish, up to `ms`. */
  async drain(ms: number): Promise<void> {
    await Promise.all(this.activeRelays().map((relay) => relay.drain(ms)));
  }

  close(): Promise<void> {
    this.closing ??= Promise.all(this.activeRelays().map((relay) => relay.close())).then(
      () => undefined,
    );
    return this.closing;
  }
}

/** One running relay of a changed tenant: new settings now, its child restarted if it must be. */
function reconfigure(relay: TenantRelay, before: TenantConfig, after: TenantConfig): void {
  relay.reconfigure(after);
  if (spawnChanged(before, after)) relay.restartWhenQuiet('configuration reloaded');
  else if (JSON.stringify(before.limits) !== JSON.stringify(after.limits)) void relay.applyLimits();
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
