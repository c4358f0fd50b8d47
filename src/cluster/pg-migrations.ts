import type { Migration } from '../store/migrations.js';

/**
 * Nodes and tenant leases. Times are PostgreSQL's own `now()`, so nodes
 * with skewed clocks still agree on who holds a lease.
 */
export const CLUSTER_MIGRATIONS: readonly Migration[] = [
  {
    component: 'cluster',
    version: 1,
    name: 'nodes and tenant leases',
    sql: `
CREATE TABLE mcp_nodes (
  node_id      TEXT PRIMARY KEY,
  url          TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  load         JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE mcp_leases (
  tenant     TEXT PRIMARY KEY,
  node_id    TEXT NOT NULL,
  epoch      BIGINT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mcp_leases_by_node ON mcp_leases (node_id);`,
  },
];
