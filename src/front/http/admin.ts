import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import type { HostLimitsReport } from '../../process/limits/index.js';
import type { Tenants } from '../../registry/tenants.js';
import { sendJson } from './respond.js';

export interface AdminEndpointOptions {
  registry: Tenants;
  authenticate: (request: IncomingMessage) => Promise<TenantContext>;
  /** Records admin actions in the audit trail. */
  audit?: AdminAudit | undefined;
  /** Which limit layers this host enforces; operators see it. */
  /** How limits are enforced on this host, shown to operators. */
  hostLimits?: HostLimitsReport | undefined;
  /** Open HTTP sessions over all tenants; operators see it. */
  sessionCount: () => number;
}

export type AdminAudit = (event: {
  tenant: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}) => void;

const RESET_PATH = /^\/admin\/tenants\/([a-z0-9][a-z0-9_-]{0,62})\/reset$/;

/**
 * `/admin/*`, for the people who run the supervisor: an operator token sees
 * every tenant, a tenant `admin` token only its own (others look unknown).
 *   GET  /admin/tenants              each tenant's status line (state, pid, started_at,
 *                                    sessions, rss_bytes, restarts, ...); for an operator
 *                                    also the session count and the host's limit layers
 *   POST /admin/tenants/<id>/reset   ends a quarantine: the next request starts the child
 */
export function createAdminEndpoint(options: AdminEndpointOptions) {
  const { registry } = options;

  async function callerOf(request: IncomingMessage) {
    const context = await options.authenticate(request);
    if (!context.isOperator && !context.isAdmin) {
      throw new McpTenantsError(
        ErrorCode.FORBIDDEN,
        'the admin API needs an operator token (`mcp-tenants token --operator`) or a tenant token with the admin permission',
      );
    }
    const maySee = (tenantId: string) => context.isOperator || context.tenantId === tenantId;
    return Object.assign(maySee, {
      actor: context.isOperator ? 'operator' : context.userId,
      isOperator: context.isOperator,
    });
  }

  return async function handle(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
  ): Promise<void> {
    const maySee = await callerOf(request);
    if (path === '/admin/tenants' && request.method === 'GET') {
      const tenants = registry.status().filter((tenant) => maySee(tenant.id));
      const hostLimits = options.hostLimits;
      sendJson(response, 200, {
        tenants,
        ...(maySee.isOperator && {
          sessions: options.sessionCount(),
          ...(hostLimits && {
            host_limits: { active: hostLimits.active, unavailable: hostLimits.unavailable },
          }),
        }),
      });
      return;
    }
    const reset = RESET_PATH.exec(path);
    if (reset && request.method === 'POST') {
      const tenantId = reset[1] as string;
      if (!maySee(tenantId) || !registry.has(tenantId)) {
        throw new McpTenantsError(
          ErrorCode.TENANT_UNKNOWN,
          `tenant "${tenantId}" is not in the manifest`,
        );
      }
      registry.reset(tenantId);
      options.audit?.({
        tenant: tenantId,
        actor: maySee.actor,
        action: 'admin/reset',
        target: tenantId,
        outcome: 'ok',
        detail: null,
      });
      sendJson(response, 200, registry.status().find((tenant) => tenant.id === tenantId) ?? {});
      return;
    }
    throw new McpTenantsError(
      ErrorCode.NOT_FOUND,
      `no route for ${request.method} ${path}; the admin API has GET /admin/tenants and POST /admin/tenants/<id>/reset`,
    );
  };
}
