import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClusterNode } from '../cluster/cluster-node.js';
import type { ClusterStore } from '../cluster/cluster-store.js';
import { sessionIdOf } from '../cluster/node-id.js';
import { clusterKey } from '../cluster/peer-auth.js';
import { PgClusterStore } from '../cluster/pg-cluster-store.js';
import { SqliteClusterStore } from '../cluster/sqlite-cluster-store.js';
import type { Manifest } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { PeerRouting } from '../front/http/server.js';
import type { TenantRegistry } from '../registry/tenant-registry.js';
import type { StoreBackend } from '../store/backend.js';

/** Whether this supervisor is one node of several: on PostgreSQL always, on SQLite as a worker. */
export function isClustered(manifest: Manifest, worker: boolean): boolean {
  return manifest.server.store.kind === 'postgres' || worker;
}

/** The store's nodes and leases; `readonly` for the reading commands (`nodes`, `tenants`). */
export function clusterStoreOf(store: StoreBackend, readonly = false): ClusterStore {
  return store.kind === 'postgres'
    ? new PgClusterStore(store.pg)
    : new SqliteClusterStore(store.db, Date.now, { readonly });
}

export interface ClusterMemberOptions {
  manifest: Manifest;
  store: StoreBackend;
  nodeId: string;
  advertiseUrl: string;
  registry: TenantRegistry;
  /** Ends a tenant's sessions on this node's fronts. */
  endSessions: (tenantId: string) => void;
  log: Logger;
}

/** Starts this supervisor's node and gives the fronts their routing. */
export async function joinCluster(options: ClusterMemberOptions): Promise<ClusterNode> {
  const { manifest, registry } = options;
  return ClusterNode.start({
    store: clusterStoreOf(options.store),
    nodeId: options.nodeId,
    advertiseUrl: options.advertiseUrl,
    leaseMs: manifest.cluster.lease_ms,
    key: clusterKey(manifest.cluster.key, manifest.auth.secret),
    log: options.log,
    local: {
      isTenant: (id) => registry.has(id),
      isIdle: (id) => registry.isIdle(id),
      load: () => {
        const status = registry.status();
        return {
          tenants: status.filter((tenant) => tenant.state === 'running').length,
          sessions: status.reduce((sum, tenant) => sum + tenant.sessions, 0),
          children: status.filter((tenant) => tenant.pid !== null).length,
        };
      },
      evict: async (id) => {
        options.endSessions(id);
        await registry.evict(id);
      },
    },
  });
}

/** The HTTP front's side of the cluster: pass on what another node serves. */
export function peerRouting(node: () => ClusterNode | undefined, nodeId: string): PeerRouting {
  return {
    newSessionId: () => sessionIdOf(nodeId, crypto.randomUUID()),
    isForwarded: (request) => node()?.isForwarded(request) ?? false,
    pass(request: IncomingMessage, response: ServerResponse) {
      const cluster = node();
      if (!cluster || cluster.isForwarded(request)) return false;
      const route = cluster.route(request);
      if (route.kind === 'here') return false;
      if (route.kind === 'peer')
        return cluster.forward(request, response, route.node).then(() => true);
      if (route.kind === 'claim') {
        return cluster.claim(route.tenant).then(async (holder) => {
          if (holder === nodeId) return false;
          const peer = cluster.liveNode(holder);
          if (!peer) {
            throw new McpTenantsError(
              ErrorCode.NODE_UNAVAILABLE,
              `tenant "${route.tenant}" is served by node ${holder}, which this node cannot reach yet; retry`,
            );
          }
          await cluster.forward(request, response, peer);
          return true;
        });
      }
      // A node this one has not heard of: it may have joined since the last heartbeat.
      return cluster.refreshNow().then(async () => {
        const again = cluster.route(request);
        if (again.kind !== 'peer') {
          throw new McpTenantsError(
            ErrorCode.SESSION_UNKNOWN,
            `this session was served by node ${route.node}, which has stopped; initialize a new session`,
          );
        }
        await cluster.forward(request, response, again.node);
        return true;
      });
    },
  };
}
