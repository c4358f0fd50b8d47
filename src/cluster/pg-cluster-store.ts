import type { PostgresStore } from '../store/postgres.js';
import type { ClusterStore, LeaseRow, NodeLoad, NodeRow } from './cluster-store.js';

const LEASE_COLUMNS = 'tenant, node_id, epoch::float8 AS epoch, expires_at > now() AS valid';

/** Nodes and leases in PostgreSQL (tables of CLUSTER_MIGRATIONS), on its clock. */
export class PgClusterStore implements ClusterStore {
  constructor(private readonly pg: PostgresStore) {}

  async register(node: { node_id: string; url: string; host: string; pid: number }): Promise<void> {
    await this.pg.query(
      `INSERT INTO mcp_nodes (node_id, url, host, pid) VALUES ($1, $2, $3, $4)
       ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, host = excluded.host,
         pid = excluded.pid, heartbeat_at = now()`,
      [node.node_id, node.url, node.host, node.pid],
    );
  }

  async heartbeat(nodeId: string, load: NodeLoad): Promise<void> {
    await this.pg.query('UPDATE mcp_nodes SET heartbeat_at = now(), load = $2 WHERE node_id = $1', [
      nodeId,
      JSON.stringify(load),
    ]);
  }

  async nodes(): Promise<NodeRow[]> {
    const result = await this.pg.query<NodeRow>(
      `SELECT node_id, url, host, pid, started_at::text AS started_at,
         heartbeat_at::text AS heartbeat_at,
         (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS heartbeat_age_ms, load
       FROM mcp_nodes ORDER BY node_id`,
    );
    return result.rows;
  }

  async leases(): Promise<LeaseRow[]> {
    const result = await this.pg.query<LeaseRow>(
      `SELECT ${LEASE_COLUMNS} FROM mcp_leases ORDER BY tenant`,
    );
    return result.rows;
  }

  async acquire(tenant: string, nodeId: string, leaseMs: number): Promise<LeaseRow> {
    // The row is locked by the upsert, so two nodes racing for a free lease
    // are serialized: one takes it, the other sees it valid and held.
    const taken = await this.pg.query<LeaseRow>(
      `INSERT INTO mcp_leases AS l (tenant, node_id, epoch, expires_at)
       VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
       ON CONFLICT (tenant) DO UPDATE SET
         node_id = excluded.node_id,
         epoch = CASE WHEN l.node_id = excluded.node_id AND l.expires_at > now()
                      THEN l.epoch ELSE l.epoch + 1 END,
         expires_at = excluded.expires_at
       WHERE l.node_id = excluded.node_id AND l.expires_at > now() OR l.expires_at <= now()
       RETURNING tenant, node_id, epoch::float8 AS epoch, true AS valid`,
      [tenant, nodeId, leaseMs],
    );
    const row = taken.rows[0];
    if (row) return row;
    const held = await this.pg.query<LeaseRow>(
      `SELECT ${LEASE_COLUMNS} FROM mcp_leases WHERE tenant = $1`,
      [tenant],
    );
    return held.rows[0] ?? { tenant, node_id: '', epoch: 0, valid: false };
  }

  async renew(nodeId: string, tenants: readonly string[], leaseMs: number): Promise<LeaseRow[]> {
    if (tenants.length === 0) return [];
    // SKIP LOCKED: a lease row locked by a tenant's write in progress (its
    // fence holds the row) is renewed on the next heartbeat, instead of this
    // one waiting and every other lease of the node lapsing behind it.
    const result = await this.pg.query<LeaseRow>(
      `UPDATE mcp_leases l SET expires_at = now() + $3 * interval '1 millisecond'
        WHERE l.tenant IN (SELECT tenant FROM mcp_leases
                            WHERE node_id = $1 AND tenant = ANY($2) AND expires_at > now()
                            FOR NO KEY UPDATE SKIP LOCKED)
       RETURNING l.tenant, l.node_id, l.epoch::float8 AS epoch, true AS valid`,
      [nodeId, tenants, leaseMs],
    );
    return result.rows;
  }

  async release(tenant: string, nodeId: string, epoch: number): Promise<void> {
    await this.pg.query(
      `UPDATE mcp_leases SET expires_at = now() - interval '1 millisecond'
       WHERE tenant = $1 AND node_id = $2 AND epoch = $3`,
      [tenant, nodeId, epoch],
    );
  }

  async leave(nodeId: string): Promise<void> {
    await this.pg.transaction(async (client) => {
      await client.query(
        `UPDATE mcp_leases SET expires_at = now() - interval '1 millisecond' WHERE node_id = $1`,
        [nodeId],
      );
      await client.query('DELETE FROM mcp_nodes WHERE node_id = $1', [nodeId]);
    });
  }

  async forget(olderThanMs: number): Promise<void> {
    await this.pg.query(
      `DELETE FROM mcp_nodes WHERE heartbeat_at < now() - $1 * interval '1 millisecond'`,
      [olderThanMs],
    );
  }
}
