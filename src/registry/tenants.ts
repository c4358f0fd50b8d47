import type { Limits } from '../core/config.js';
import type { LimitsStatus } from '../process/child-limits.js';
import type { TenantRelay } from '../relay/tenant-relay.js';

/** What the fronts may ask of the running tenants (the registry implements it). */
export interface Tenants {
  has(tenantId: string): boolean;
  /** The tenant's shared relay, for requests without a session of their own. */
  relayFor(tenantId: string): TenantRelay;
  /** The relay a new session uses (shared, or a child of its own). */
  lease(tenantId: string): RelayLease;
  status(): TenantStatus[];
  /** An operator's reset of a tenant's crash history. */
  reset(tenantId: string): void;
  limitsOf(tenantId: string): Limits | undefined;
  cpuCores(tenantId: string): number | undefined;
}

/** A relay held by one session; `release()` when the session ends. */
export interface RelayLease {
  relay: TenantRelay;
  release(): void;
}

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
  /** In a cluster: the node that serves the tenant now (null: none yet). Absent on one node. */
  node?: string | null;
  /** Children running now, for a tenant with `max_instances` > 1 (absent otherwise). */
  instances?: number;
}
