import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import type { TenantStatus, Tenants } from '../../registry/tenants.js';
import { sendJson } from './respond.js';
import { STATUS_HTML } from './status-html.js';

/** Per-tenant request figures over the last minutes, from telemetry when it runs. */
export interface TenantFigures {
  requests_per_min: number;
  /** Share of requests that failed, 0..1. */
  error_rate: number;
  p95_ms: number | null;
  quota_refusals: number;
}

export type FiguresProvider = (tenantId: string) => TenantFigures | undefined;

export interface StatusPageOptions {
  registry: Tenants;
  authenticate: (authorization: string | undefined) => Promise<TenantContext>;
  /** Expiry and revocation of the token a cookie was traded for, on every use. */
  recheck: (context: TenantContext) => void;
  figures?: FiguresProvider | undefined;
}

const COOKIE = 'mcp_tenants_status';
/** Page sessions at once; the oldest goes first. */
const MAX_PAGE_SESSIONS = 1_000;

interface PageSession {
  context: TenantContext;
  /** Epoch ms; the token's own expiry. */
  expiresAt: number;
}

/**
 * `GET /`: a live status page for an operator (every tenant) or a tenant
 * `admin` (its own tenant). A browser passes its token once as `?token=`;
 * it is checked, traded for an HttpOnly cookie naming a page session, and
 * the browser is sent back to `/` so the token leaves the address bar. The
 * page polls `GET /status.json`, which also takes a bearer header. `/mcp`
 * never accepts either the query token or the cookie.
 */
export function createStatusPage(options: StatusPageOptions) {
  const pageSessions = new Map<string, PageSession>();

  function remember(context: TenantContext): string {
    const id = randomBytes(24).toString('base64url');
    if (pageSessions.size >= MAX_PAGE_SESSIONS) {
      const oldest = pageSessions.keys().next().value;
      if (oldest !== undefined) pageSessions.delete(oldest);
    }
    pageSessions.set(id, { context, expiresAt: context.expiresAt * 1000 });
    return id;
  }

  function sessionFrom(request: IncomingMessage): TenantContext | undefined {
    const id = cookieValue(request.headers.cookie, COOKIE);
    const session = id === undefined ? undefined : pageSessions.get(id);
    if (!session || id === undefined) return undefined;
    if (session.expiresAt <= Date.now()) {
      pageSessions.delete(id);
      return undefined;
    }
    try {
      // The cookie is only as good as the token it was traded for.
      options.recheck(session.context);
    } catch (error) {
      pageSessions.delete(id);
      throw error;
    }
    return session.context;
  }

  async function callerOf(request: IncomingMessage): Promise<TenantContext> {
    const context = request.headers.authorization
      ? await options.authenticate(request.headers.authorization)
      : sessionFrom(request);
    if (!context) {
      throw new McpTenantsError(
        ErrorCode.AUTH_MISSING,
        'open the status page as /?token=<operator or admin token> (`mcp-tenants token --operator`)',
      );
    }
    return allowed(context);
  }

  function figuresOf(tenant: TenantStatus) {
    const limits = options.registry.limitsOf(tenant.id);
    return {
      ...tenant,
      cpu_cores: options.registry.cpuCores(tenant.id) ?? null,
      cpu_limit: limits?.cpu ?? null,
      memory_limit_mb: limits?.memory_mb ?? null,
      requests_per_min: null,
      error_rate: null,
      p95_ms: null,
      quota_refusals: null,
      ...options.figures?.(tenant.id),
    };
  }

  return async function handle(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
  ): Promise<boolean> {
    if (path === '/' && request.method === 'GET') {
      const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
      if (token !== null) {
        const context = allowed(await options.authenticate(`Bearer ${token}`));
        const maxAge = Math.max(0, context.expiresAt - Math.floor(Date.now() / 1000));
        response.writeHead(303, {
          location: '/',
          'set-cookie': `${COOKIE}=${remember(context)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`,
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        });
        response.end();
        return true;
      }
      await callerOf(request);
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'x-frame-options': 'DENY',
      });
      response.end(STATUS_HTML);
      return true;
    }
    if (path === '/status.json' && request.method === 'GET') {
      const context = await callerOf(request);
      const tenants = options.registry
        .status()
        .filter((tenant) => context.isOperator || tenant.id === context.tenantId)
        .map(figuresOf);
      sendJson(
        response,
        200,
        {
          generated_at: new Date().toISOString(),
          scope: context.isOperator ? 'operator' : `tenant ${context.tenantId}`,
          tenants,
        },
        { 'cache-control': 'no-store' },
      );
      return true;
    }
    return false;
  };
}

function allowed(context: TenantContext): TenantContext {
  if (context.isOperator || context.isAdmin) return context;
  throw new McpTenantsError(
    ErrorCode.FORBIDDEN,
    'the status page needs an operator token (`mcp-tenants token --operator`) or a tenant token with the admin permission',
  );
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}
