/** A node of the cluster, as the store has it. */
export interface NodeRow {
  node_id: string;
  /** Where peers reach it (its advertise URL, without a path). */
  url: string;
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  /** Milliseconds since its last heartbeat, by the store's clock. */
  heartbeat_age_ms: number;
  load: NodeLoad;
}

export interface NodeLoad {
  tenants: number;
  sessions: number;
  children: number;
}

/** Who holds a tenant's lease, and under which epoch. */
export interface LeaseRow {
  tenant: string;
  node_id: string;
  epoch: number;
  /** Whether it is still valid by the store's clock. */
  valid: boolean;
}

/**
 * Nodes and leases, on PostgreSQL (a cluster of hosts) or on the embedded
 * SQLite database (`--workers` on one host). Times are the store's own, so
 * nodes with skewed clocks agree on who holds what.
 */
export interface ClusterStore {
  register(node: { node_id: string; url: string; host: string; pid: number }): Promise<void>;
  heartbeat(nodeId: string, load: NodeLoad): Promise<void>;
  nodes(): Promise<NodeRow[]>;
  leases(): Promise<LeaseRow[]>;
  /**
   * Takes the tenant's lease for `nodeId` when it is free, expired or
   * already this node's (renewing it); a new holder, or a holder whose
   * lease had lapsed, gets the next epoch. Returns the holder after the attempt.
   */
  acquire(tenant: string, nodeId: string, leaseMs: number): Promise<LeaseRow>;
  /** Extends this node's valid leases on `tenants`; returns those it still holds, with their epochs. */
  renew(nodeId: string, tenants: readonly string[], leaseMs: number): Promise<LeaseRow[]>;
  /** Lets go of a lease held under `epoch` (the epoch stays, so the next holder's is higher). */
  release(tenant: string, nodeId: string, epoch: number): Promise<void>;
  /** A node that stops: its leases end now and it leaves the list. */
  leave(nodeId: string): Promise<void>;
  /** Forgets nodes silent for longer than `olderThanMs`. */
  forget(olderThanMs: number): Promise<void>;
}
