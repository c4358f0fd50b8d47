import type { ServerResponse } from 'node:http';
import { ErrorCode, type McpTenantsError, toMcpTenantsError } from '../../errors.js';
import { errorResponse, type JsonRpcId } from '../../relay/jsonrpc.js';

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Refusals that say, in `WWW-Authenticate`, why the credentials did not do. */
const CHALLENGED: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.AUTH_MISSING,
  ErrorCode.AUTH_INVALID,
  ErrorCode.TENANT_UNKNOWN,
  ErrorCode.FORBIDDEN,
]);

/**
 * The one place HTTP errors become responses: status from the error code,
 * a JSON-RPC error body clients can show, and the headers the status needs.
 */
export function sendError(
  response: ServerResponse,
  error: unknown,
  context: { id?: JsonRpcId | null; resourceMetadataUrl?: string } = {},
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const failure = toMcpTenantsError(error);
  const headers: Record<string, string> = {};
  if (CHALLENGED.has(failure.code)) {
    headers['www-authenticate'] = wwwAuthenticate(failure, context.resourceMetadataUrl);
  }
  if (failure.code === ErrorCode.METHOD_NOT_ALLOWED) headers.allow = 'GET, POST, DELETE';
  sendJson(
    response,
    failure.httpStatus,
    errorResponse(context.id ?? null, failure.jsonRpcCode, failure.message, {
      code: failure.code,
      ...failure.data,
    }),
    headers,
  );
}

/** RFC 6750 §3 challenge, with the RFC 9728 metadata pointer MCP clients look for. */
function wwwAuthenticate(error: McpTenantsError, resourceMetadataUrl: string | undefined): string {
  if (error.code === ErrorCode.AUTH_INVALID) {
    return bearerChallenge({
      error: 'invalid_token',
      description: error.message,
      resourceMetadataUrl,
    });
  }
  if (error.code === ErrorCode.AUTH_MISSING) return bearerChallenge({ resourceMetadataUrl });
  // A valid token that does not reach this tenant or this call.
  const scope = error.data?.required_permission;
  return bearerChallenge({
    error: 'insufficient_scope',
    description: error.message,
    scope: typeof scope === 'string' ? scope : undefined,
    resourceMetadataUrl,
  });
}

export interface BearerChallenge {
  /** RFC 6750 §3.1 error code; none when no credentials were given. */
  error?: 'invalid_token' | 'insufficient_scope';
  description?: string;
  /** The permission the call needs, for `insufficient_scope`. */
  scope?: string | undefined;
  resourceMetadataUrl?: string | undefined;
}

/** The `WWW-Authenticate` value: why the credentials did not do, in RFC 6750 terms. */
export function bearerChallenge(challenge: BearerChallenge): string {
  const parts = ['Bearer realm="mcp-tenants"'];
  if (challenge.resourceMetadataUrl)
    parts.push(`resource_metadata="${challenge.resourceMetadataUrl}"`);
  if (challenge.error) parts.push(`error="${challenge.error}"`);
  if (challenge.scope) parts.push(`scope="${quote(challenge.scope)}"`);
  if (challenge.description) parts.push(`error_description="${quote(challenge.description)}"`);
  return parts.join(', ');
}

function quote(text: string): string {
  return text.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '');
}
