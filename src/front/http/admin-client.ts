import { signToken } from '../../auth/sign.js';
import type { Manifest } from '../../core/config.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';
import type { TenantStatus } from '../../registry/tenants.js';

const TIMEOUT_MS = 2_000;

/** Where a running supervisor of this manifest answers, unless told otherwise. */
export function adminBaseUrl(manifest: Manifest, url?: string): string {
  if (url) return url.replace(/\/+$/, '').replace(/\/mcp$/, '');
  const host = manifest.server.host === '0.0.0.0' ? '127.0.0.1' : manifest.server.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${manifest.server.port}`;
}

/**
 * Calls the admin API of a running supervisor with a short-lived operator
 * token signed from the manifest's secret. Resolves undefined when nothing
 * listens there (the supervisor is not running).
 */
export async function callAdmin(
  manifest: Manifest,
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
): Promise<unknown> {
  const token = await signToken(manifest.auth, { operator: true, ttlSeconds: 60 });
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return undefined;
    throw new McpTenantsError(
      ErrorCode.CHILD_UNAVAILABLE,
      `no answer from ${baseUrl} within ${TIMEOUT_MS} ms; is the supervisor running there? (--url)`,
      { cause: error },
    );
  }
  const body = (await response.json().catch(() => ({}))) as {
    error?: { message?: string };
  };
  if (!response.ok) {
    throw new McpTenantsError(
      response.status === 404 ? ErrorCode.TENANT_UNKNOWN : ErrorCode.INTERNAL,
      `${baseUrl}${path} answered ${response.status}: ${body.error?.message ?? 'no reason given'}`,
    );
  }
  return body;
}

export async function fetchTenantStatus(
  manifest: Manifest,
  baseUrl: string,
): Promise<TenantStatus[] | undefined> {
  const body = (await callAdmin(manifest, baseUrl, 'GET', '/admin/tenants')) as
    | { tenants: TenantStatus[] }
    | undefined;
  return body?.tenants;
}
