import type Database from 'better-sqlite3';
import { hasTable } from '../store/sqlite.js';
import type { ClusterStore, LeaseRow, NodeLoad, NodeRow } from './cluster-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cluster_nodes (
  node_id      TEXT PRIMARY KEY,
  url          TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  load         TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cluster_leases (
  tenant     TEXT PRIMARY KEY,
  node_id    TEXT NOT NULL,
  epoch      INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID`;

interface RawNode {
  node_id: string;
  url: string;
  host: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
  load: string;
}

interface RawLease {
  tenant: string;
  node_id: string;
  epoch: number;
  expires_at: number;
}

/**
 * Nodes and leases in the embedded database, for `--workers` on one host:
 * the workers share the file (WAL), and one clock.
 */
export class SqliteClusterStore implements ClusterStore {
  private readonly ready: boolean;

  /** `readonly`: for a reading command on a read-only connection; no tables yet means no nodes. */
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
    options: { readonly?: boolean } = {},
  ) {
    if (!options.readonly) db.exec(SCHEMA);
    this.ready = hasTable(db, 'cluster_nodes') && hasTable(db, 'cluster_leases');
  }

  async register(node: { node_id: string; url: string; host: string; pid: number }): Promise<void> {
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO cluster_nodes (node_id, url, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at`,
      )
      .run(node.node_id, node.url, node.host, node.pid, now, now);
  }

  async heartbeat(nodeId: string, load: NodeLoad): Promise<void> {
    this.db
      .prepare('UPDATE cluster_nodes SET heartbeat_at = ?, load = ? WHERE node_id = ?')
      .run(this.now(), JSON.stringify(load), nodeId);
  }

  async nodes(): Promise<NodeRow[]> {
    if (!this.ready) return [];
    const now = this.now();
    return this.db
      .prepare<[], RawNode>('SELECT * FROM cluster_nodes ORDER BY node_id')
      .all()
      .map((row) => ({
        node_id: row.node_id,
        url: row.url,
        host: row.host,
        pid: row.pid,
        started_at: new Date(row.started_at).toISOString(),
        heartbeat_at: new Date(row.heartbeat_at).toISOString(),
        heartbeat_age_ms: now - row.heartbeat_at,
        load: JSON.parse(row.load) as NodeLoad,
      }));
  }

  async leases(): Promise<LeaseRow[]> {
    if (!this.ready) return [];
    const now = this.now();
    return this.db
      .prepare<[], RawLease>('SELECT * FROM cluster_leases ORDER BY tenant')
      .all()
      .map((row) => toLease(row, now));
  }

  async acquire(tenant: string, nodeId: string, leaseMs: number): Promise<LeaseRow> {
    const now = this.now();
    const take = this.db.transaction((): RawLease => {
      const held = this.db
        .prepare<[string], RawLease>('SELECT * FROM cluster_leases WHERE tenant = ?')
        .get(tenant);
      if (held && held.expires_at > now && held.node_id !== nodeId) return held;
      const keeps = held !== undefined && held.node_id === nodeId && held.expires_at > now;
      const epoch = held === undefined ? 1 : keeps ? held.epoch : held.epoch + 1;
      const row = { tenant, node_id: nodeId, epoch, expires_at: now + leaseMs };
      this.db
        .prepare(
          `INSERT INTO cluster_leases (tenant, node_id, epoch, expires_at) VALUES (@tenant, @node_id, @epoch, @expires_at)
           ON CONFLICT (tenant) DO UPDATE SET node_id = excluded.node_id, epoch = excluded.epoch, expires_at = excluded.expires_at`,
        )
        .run(row);
      return row;
    });
    return toLease(take.immediate(), now);
  }

  async renew(nodeId: string, tenants: readonly string[], leaseMs: number): Promise<LeaseRow[]> {
    const now = this.now();
    const extend = this.db.prepare(
      'UPDATE cluster_leases SET expires_at = ? WHERE tenant = ? AND node_id = ? AND expires_at > ? RETURNING *',
    );
    const renew = this.db.transaction(() =>
      tenants.flatMap((tenant) => {
        const row = extend.get(now + leaseMs, tenant, nodeId, now) as RawLease | undefined;
        return row ? [row] : [];
      }),
    );
    return renew.immediate().map((row) => toLease(row, now));
  }

  async release(tenant: string, nodeId: string, epoch: number): Promise<void> {
    this.db
      .prepare(
        'UPDATE cluster_leases SET expires_at = ? WHERE tenant = ? AND node_id = ? AND epoch = ?',
      )
      .run(this.now() - 1, tenant, nodeId, epoch);
  }

  async leave(nodeId: string): Promise<void> {
    const now = this.now();
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE cluster_leases SET expires_at = ? WHERE node_id = ?')
        .run(now - 1, nodeId);
      this.db.prepare('DELETE FROM cluster_nodes WHERE node_id = ?').run(nodeId);
    })();
  }

  async forget(olderThanMs: number): Promise<void> {
    this.db
      .prepare('DELETE FROM cluster_nodes WHERE heartbeat_at < ?')
      .run(this.now() - olderThanMs);
  }
}

function toLease(row: RawLease, now: number): LeaseRow {
  return {
    tenant: row.tenant,
    node_id: row.node_id,
    epoch: row.epoch,
    valid: row.expires_at > now,
  };
}
