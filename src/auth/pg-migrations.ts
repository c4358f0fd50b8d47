import type { Migration } from '../store/migrations.js';

/** The channel `mcp-tenants revoke` notifies on, in the transaction that revokes. */
export const REVOCATION_CHANNEL = 'mcp_revocations';

/**
 * The revocation list's tables in PostgreSQL. `revoked_at` is the database's
 * clock, so every node reads new entries by one clock.
 */
export const REVOCATION_MIGRATIONS: readonly Migration[] = [
  {
    component: 'revocations',
    version: 1,
    name: 'revoked tokens',
    sql: `
CREATE TABLE mcp_revoked_tokens (
  jti        TEXT PRIMARY KEY,
  revoked_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  reason     TEXT,
  expires_at TIMESTAMPTZ
);
CREATE INDEX mcp_revoked_tokens_by_time ON mcp_revoked_tokens (revoked_at);`,
  },
];
