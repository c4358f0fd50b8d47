import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ClusterStore, LeaseRow, NodeLoad, NodeRow } from './cluster-store.js';
import { ownerOfSession } from './node-id.js';
import { PEER_HEADER, peerRequestOf, signPeerHeader, verifyPeerHeader } from './peer-auth.js';
import { PeerProxy } from './peer-proxy.js';
import { preferredNode } from './placement.js';
import { tenantOfToken } from './token-tenant.js';

/** Requests whose peer header verified. */
const verified = new WeakSet<IncomingMessage>();

/** Nodes silent this long leave the list (their leases lapsed long before). */
const FORGET_AFTER_MS = 60 * 60_000;

/** What this node is doing, for heartbeats and for moving idle tenants. */
export interface LocalTenants {
  isTenant(tenantId: string): boolean;
  /** Nothing of the tenant under way here (no session, request or start): it may move. */
  isIdle(tenantId: string): boolean;
  load(): NodeLoad;
  /** Stops the tenant's children and ends its sessions here. */
  evict(tenantId: string, reason: string): Promise<void>;
}

export interface ClusterNodeOptions {
  store: ClusterStore;
  nodeId: string;
  /** Where peers reach this node: scheme, host and port. */
  advertiseUrl: string;
  leaseMs: number;
  key: Buffer;
  local: LocalTenants;
  log: Logger;
}

/** Where one HTTP request for /mcp is served. */
export type Route =
  | { kind: 'here' }
  | { kind: 'peer'; node: NodeRow }
  /** A session of a node this one has not heard of: gone, or joined since the last heartbeat. */
  | { kind: 'gone'; node: string }
  /** A tenant no node holds that belongs here: `claim` it, then serve here or at the holder. */
  | { kind: 'claim'; tenant: string };

/**
 * This process as one node of the cluster. It registers, heartbeats and
 * renews its leases every third of `lease_ms`, and keeps a view of the live
 * nodes and every lease, from which requests are routed with no I/O:
 *
 * - a 2025 session id names its node; a 2026 request (or an `initialize`)
 *   goes to the holder of its tenant's lease, or where no valid lease is, to
 *   the tenant's preferred live node (rendezvous hashing);
 * - a child starts here only under this node's lease (`leaseFor`), whose
 *   epoch the child's writes are fenced with;
 * - a lease this node failed to renew (paused, cut off) is given up at
 *   once: its children stop, as another node may hold it by now;
 * - an idle tenant whose preferred node is another (a node joined) is let go.
 */
export class ClusterNode {
  readonly id: string;
  private live = new Map<string, NodeRow>();
  private leaseView = new Map<string, LeaseRow>();
  /** Leases this node holds, by tenant, each valid until a time of this process's clock. */
  private readonly held = new Map<string, HeldLease>();
  private readonly acquiring = new Map<string, Promise<number>>();
  /** Tenants being let go: their children stop, then the lease is released. */
  private readonly releasing = new Set<string>();
  private readonly proxy = new PeerProxy();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private closed = false;
  private lastFailureLog = 0;
  private lastRefresh = 0;
  private lastForgeryLog = 0;

  private constructor(private readonly options: ClusterNodeOptions) {
    this.id = options.nodeId;
  }

  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const node = new ClusterNode(options);
    await options.store.register({
      node_id: node.id,
      url: options.advertiseUrl,
      host: hostname(),
      pid: process.pid,
    });
    await node.refresh();
    node.timer = setInterval(() => node.tick(), Math.max(200, Math.floor(options.leaseMs / 3)));
    node.timer.unref();
    return node;
  }

  /** The node the view says serves a tenant now, if any. */
  ownerOf(tenantId: string): string | undefined {
    if (this.holds(tenantId)) return this.id;
    const lease = this.leaseView.get(tenantId);
    if (lease?.valid && this.live.has(lease.node_id)) return lease.node_id;
    return undefined;
  }

  /**
   * For a tenant no node holds by this node's view: takes the lease here,
   * or learns which node has it. Returns the holder's id.
   */
  async claim(tenantId: string): Promise<string> {
    try {
      await this.leaseFor(tenantId);
      return this.id;
    } catch (error) {
      const holder = (error as McpTenantsError).data?.node;
      if (typeof holder !== 'string') throw error;
      await this.refreshNow();
      return holder;
    }
  }

  /** The live node with this id, when this node's view has it. */
  liveNode(nodeId: string): NodeRow | undefined {
    return this.live.get(nodeId);
  }

  /** Where a request goes, from its headers alone (the body is not read here). */
  route(request: IncomingMessage): Route {
    const session = request.headers['mcp-session-id'];
    if (typeof session === 'string') {
      const owner = ownerOfSession(session);
      if (owner === undefined || owner === this.id) return { kind: 'here' };
      const node = this.live.get(owner);
      return node ? { kind: 'peer', node } : { kind: 'gone', node: owner };
    }
    // Routing only: the node that serves the request verifies the token in full.
    const tenant = tenantOfToken(request.headers.authorization);
    if (tenant === undefined || !this.options.local.isTenant(tenant)) return { kind: 'here' };
    const owner = this.ownerOf(tenant);
    if (owner === this.id) return { kind: 'here' };
    const target = owner ?? preferredNode(tenant, [...this.live.keys()]) ?? this.id;
    // Nobody holds it, and it belongs here: take the lease first (another node may just have).
    if (target === this.id)
      return this.held.has(tenant) ? { kind: 'here' } : { kind: 'claim', tenant };
    const node = this.live.get(target);
    return node ? { kind: 'peer', node } : { kind: 'here' };
  }

  /**
   * True for a request a peer forwarded (it is served here, never sent on);
   * a peer header that does not verify is refused, so no client can pose as a node.
   */
  isForwarded(request: IncomingMessage): boolean {
    const header = request.headers[PEER_HEADER];
    if (header === undefined) return false;
    // Asked twice per request (Host check, routing): the MAC is checked once.
    if (verified.has(request)) return true;
    const from =
      typeof header === 'string'
        ? verifyPeerHeader(this.options.key, header, peerRequestOf(request))
        : undefined;
    if (from === undefined) {
      const now = Date.now();
      if (now - this.lastForgeryLog > 10_000) {
        this.lastForgeryLog = now;
        this.options.log.warn(
          'refused a request with a peer header that does not verify: a forged one, or a node with another cluster key (cluster.key, key_file or auth.secret differ)',
          { remote: request.socket.remoteAddress },
        );
      }
      throw new McpTenantsError(
        ErrorCode.FORBIDDEN,
        `the ${PEER_HEADER} header did not verify: only nodes of this cluster (same cluster key) may send it`,
      );
    }
    verified.add(request);
    return true;
  }

  forward(request: IncomingMessage, response: ServerResponse, node: NodeRow): Promise<void> {
    const header = signPeerHeader(this.options.key, this.id, peerRequestOf(request));
    return this.proxy.forward(request, response, node, { [PEER_HEADER]: header });
  }

  /**
   * The epoch of this node's lease on a tenant, taking the lease when it is
   * free or lapsed. Refused (NODE_UNAVAILABLE, retry) while another node holds it.
   */
  leaseFor(tenantId: string): Promise<number> {
    if (this.holds(tenantId)) return Promise.resolve((this.held.get(tenantId) as HeldLease).epoch);
    if (this.releasing.has(tenantId)) {
      return Promise.reject(
        new McpTenantsError(
          ErrorCode.NODE_UNAVAILABLE,
          `tenant "${tenantId}" is moving to another node; retry in a moment`,
        ),
      );
    }
    let pending = this.acquiring.get(tenantId);
    if (!pending) {
      pending = this.acquire(tenantId).finally(() => this.acquiring.delete(tenantId));
      this.acquiring.set(tenantId, pending);
    }
    return pending;
  }

  /** Leaves the cluster: leases end now, so peers take the tenants at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.ticking;
    this.proxy.close();
    try {
      await this.options.store.leave(this.id);
    } catch (error) {
      this.options.log.warn(
        'could not leave the cluster cleanly; peers take over when the leases lapse',
        {
          error: messageOf(error),
        },
      );
    }
  }

  private async acquire(tenantId: string): Promise<number> {
    const stopping = () =>
      new McpTenantsError(
        ErrorCode.SHUTTING_DOWN,
        'this node is stopping; retry: another node takes over',
      );
    if (this.closed) throw stopping();
    // Valid from when it was asked for, by this process's clock: never later than the store thinks.
    const sentAt = performance.now();
    const lease = await this.options.store.acquire(tenantId, this.id, this.options.leaseMs);
    this.leaseView.set(tenantId, lease);
    if (lease.node_id === this.id && lease.valid) {
      if (this.closed) {
        await this.options.store.release(tenantId, this.id, lease.epoch).catch(() => {});
        throw stopping();
      }
      this.held.set(tenantId, {
        epoch: lease.epoch,
        acquiredAt: sentAt,
        validUntil: sentAt + this.options.leaseMs,
      });
      this.options.log.info('took the lease of a tenant', { tenant: tenantId, epoch: lease.epoch });
      return lease.epoch;
    }
    // The holder may be a node this one has not heard of yet: learn of it for the retry.
    void this.refreshNow();
    throw new McpTenantsError(
      ErrorCode.NODE_UNAVAILABLE,
      `tenant "${tenantId}" is served by node ${lease.node_id}; retry: requests are routed there`,
      { data: { node: lease.node_id } },
    );
  }

  /**
   * A heartbeat now (or the one under way), at most every 100 ms: for a
   * request naming a node this one has not heard of yet.
   */
  refreshNow(): Promise<void> {
    if (!this.ticking && Date.now() - this.lastRefresh >= 100) this.tick();
    return this.ticking ?? Promise.resolve();
  }

  private tick(): void {
    if (this.ticking || this.closed) return;
    this.lastRefresh = Date.now();
    this.ticking = this.refresh()
      .catch((error: unknown) => {
        const now = Date.now();
        if (now - this.lastFailureLog < 10_000) return;
        this.lastFailureLog = now;
        this.options.log.warn('cluster heartbeat failed; retrying', { error: messageOf(error) });
      })
      .finally(() => {
        this.ticking = undefined;
      });
  }

  /** One heartbeat: renew, read the view, give up what is lost, let go what belongs elsewhere. */
  private async refresh(): Promise<void> {
    const { store, leaseMs, local } = this.options;
    this.dropLapsed();
    await store.heartbeat(this.id, local.load());
    const sentAt = performance.now();
    const asked = [...this.held].filter(([, lease]) => lease.acquiredAt < sentAt);
    const renewed = await store.renew(
      this.id,
      asked.map(([tenant]) => tenant),
      leaseMs,
    );
    const kept = new Map(renewed.map((lease) => [lease.tenant, lease.epoch]));
    // Not renewed: lost to another node, or only skipped (a write of the
    // tenant held its row); the leases read below tell which.
    const unrenewed: [string, HeldLease][] = [];
    for (const [tenant, lease] of asked) {
      if (this.held.get(tenant) !== lease) continue;
      if (kept.get(tenant) === lease.epoch) lease.validUntil = sentAt + leaseMs;
      else unrenewed.push([tenant, lease]);
    }
    const nodes = await store.nodes();
    this.live = new Map(
      nodes
        // A node without a URL (a desktop host's `serve --stdio`) holds leases but takes no requests.
        .filter(
          (node) =>
            node.url !== '' && (node.heartbeat_age_ms < leaseMs || node.node_id === this.id),
        )
        .map((node) => [node.node_id, node]),
    );
    for (const node of nodes) {
      if (!this.live.has(node.node_id)) this.proxy.abandon(node.node_id);
    }
    this.leaseView = new Map((await store.leases()).map((lease) => [lease.tenant, lease]));
    for (const [tenant, lease] of unrenewed) {
      if (this.held.get(tenant) !== lease) continue;
      const now = this.leaseView.get(tenant);
      const stillMine = now?.valid && now.node_id === this.id && now.epoch === lease.epoch;
      // Skipped: renewed next time, or given up by this process's clock if it never is.
      if (!stillMine) this.giveUp(tenant, 'lost the lease of a tenant; its children here stop');
    }
    this.letGoOfMovedTenants();
    if (Math.random() < 0.01) await store.forget(FORGET_AFTER_MS);
  }

  /** Whether this node holds the tenant's lease, by its own clock. */
  private holds(tenantId: string): boolean {
    const lease = this.held.get(tenantId);
    if (!lease) return false;
    if (lease.validUntil - performance.now() > this.margin) return true;
    this.giveUp(tenantId, 'could not renew the lease of a tenant in time; its children here stop');
    return false;
  }

  /** Leases that ran out without a renewal (the store unreachable, this process paused). */
  private dropLapsed(): void {
    for (const tenant of [...this.held.keys()]) this.holds(tenant);
  }

  /**
   * A lease lapsed or lost: another node may hold it now, so the children
   * here stop at once (in the background: the heartbeat goes on).
   */
  private giveUp(tenant: string, why: string): void {
    this.held.delete(tenant);
    this.options.log.warn(why, { tenant });
    this.options.local.evict(tenant, 'lease lost').catch((error: unknown) => {
      this.options.log.error('stopping the children of a lost tenant failed', {
        tenant,
        error: messageOf(error),
      });
    });
  }

  /** Lets idle tenants go to their preferred node: children stop, then the lease is released. */
  private letGoOfMovedTenants(): void {
    const liveIds = [...this.live.keys()];
    const now = performance.now();
    for (const [tenant, lease] of [...this.held]) {
      const gone = !this.options.local.isTenant(tenant);
      if (!gone) {
        if (preferredNode(tenant, liveIds) === this.id) continue;
        // Just taken (perhaps before this node heard of the preferred one), or in use: stays.
        if (now - lease.acquiredAt < this.options.leaseMs || this.acquiring.has(tenant)) continue;
        if (!this.options.local.isIdle(tenant)) continue;
      }
      this.held.delete(tenant);
      this.releasing.add(tenant);
      (async () => {
        if (!gone) await this.options.local.evict(tenant, 'moved to its preferred node');
        await this.options.store.release(tenant, this.id, lease.epoch);
        if (!gone) this.options.log.info('let an idle tenant go to its preferred node', { tenant });
      })()
        .catch((error: unknown) => {
          this.options.log.warn('letting a tenant go failed; its lease lapses instead', {
            tenant,
            error: messageOf(error),
          });
        })
        .finally(() => this.releasing.delete(tenant));
    }
  }

  /** A lease counts as lapsed a little early: clocks of two machines do not run at one rate. */
  private get margin(): number {
    return Math.min(1_000, this.options.leaseMs / 10);
  }
}

interface HeldLease {
  epoch: number;
  /** `performance.now()` when it was asked for. */
  acquiredAt: number;
  /** `performance.now()` past which it may be another node's. */
  validUntil: number;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
