import type { Quotas, ServerConfig } from '../../core/config.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';

type SessionCapDefaults = Pick<ServerConfig, 'max_sessions_per_user' | 'max_sessions_per_tenant'>;

/**
 * Open HTTP sessions per user of a tenant and per tenant. Every session
 * holds a relay entry, routing tables and streams until DELETE or its idle
 * timeout, so one user (or one tenant) may not open them without end. The
 * limits are `server.max_sessions_per_user` / `_per_tenant`, unless the
 * tenant's `quotas` set its own.
 */
export class SessionCaps {
  private readonly perTenant = new Map<string, number>();
  private readonly perUser = new Map<string, number>();

  constructor(private readonly defaults: SessionCapDefaults) {}

  /** Throws QUOTA_EXCEEDED (HTTP 429) when one more session would pass a limit. */
  admit(tenantId: string, userId: string, quotas: Quotas): void {
    const userLimit = quotas.max_sessions_per_user ?? this.defaults.max_sessions_per_user;
    if ((this.perUser.get(userKey(tenantId, userId)) ?? 0) >= userLimit) {
      throw tooMany(
        `user ${userId} already has ${userLimit} open sessions with tenant ${tenantId}`,
        'max_sessions_per_user',
        userLimit,
      );
    }
    const tenantLimit = quotas.max_sessions_per_tenant ?? this.defaults.max_sessions_per_tenant;
    if ((this.perTenant.get(tenantId) ?? 0) >= tenantLimit) {
      throw tooMany(
        `tenant ${tenantId} already has ${tenantLimit} open sessions`,
        'max_sessions_per_tenant',
        tenantLimit,
      );
    }
  }

  opened(tenantId: string, userId: string): void {
    bump(this.perTenant, tenantId, 1);
    bump(this.perUser, userKey(tenantId, userId), 1);
  }

  closed(tenantId: string, userId: string): void {
    bump(this.perTenant, tenantId, -1);
    bump(this.perUser, userKey(tenantId, userId), -1);
  }
}

function userKey(tenantId: string, userId: string): string {
  return `${tenantId}\u0000${userId}`;
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

function tooMany(why: string, quota: string, limit: number): McpTenantsError {
  return new McpTenantsError(
    ErrorCode.QUOTA_EXCEEDED,
    `too many open sessions: ${why} (${quota}: ${limit}); close idle sessions ` +
      `(DELETE /mcp with their Mcp-Session-Id) or raise ${quota} (under server:, or the tenant's quotas:)`,
    { data: { quota, limit } },
  );
}
