import type { ServerResponse } from 'node:http';
import { ErrorCode, toMcpTenantsError } from '../../core/errors.js';
import { errorResponse, type JsonRpcId } from '../../core/jsonrpc.js';

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
const CHALLENGED: ReadonlySet<string> = new Set([
  ErrorCode.AUTH_MISSING,
  ErrorCode.AUTH_INVALID,
  ErrorCode.TENANT_UNKNOWN,
  ErrorCode.FORBIDDEN,
]);

/** An error as it is answered: its code, message and `error.data`. */
export interface ErrorParts {
  code: string | undefined;
  message: string;
  data: Record<string, unknown> | undefined;
}

/** What a 401 tells the client about getting a token (RFC 9728, RFC 6750 §3). */
export interface ChallengeContext {
  resourceMetadataUrl?: string | undefined;
  /** The scopes to ask for (`auth.scopes_supported`). */
  scope?: string | undefined;
}

/**
 * The headers an error answer needs, from its code and data alone, so a
 * refusal thrown before a session and one a stage returns inside it say
 * the same: `WWW-Authenticate` for credentials that did not do (RFC 6750,
 * with the RFC 9728 pointer; a missing permission as `scope`),
 * `Retry-After` for a quota, `Allow` for a wrong method.
 */
export function errorHeaders(
  error: ErrorParts,
  where: ChallengeContext = {},
): Record<string, string> {
  const { resourceMetadataUrl } = where;
  const headers: Record<string, string> = {};
  const { code, message, data } = error;
  if (code !== undefined && CHALLENGED.has(code)) {
    const scope = data?.required_permission;
    headers['www-authenticate'] =
      code === ErrorCode.AUTH_MISSING
        ? bearerChallenge({ resourceMetadataUrl, scope: where.scope })
        : code === ErrorCode.AUTH_INVALID
          ? bearerChallenge({
              error: 'invalid_token',
              description: message,
              scope: where.scope,
              resourceMetadataUrl,
            })
          : bearerChallenge({
              error: 'insufficient_scope',
              description: message,
              scope: typeof scope === 'string' ? scope : undefined,
              resourceMetadataUrl,
            });
  }
  const retryAfter = data?.retry_after_seconds;
  if (code === ErrorCode.QUOTA_EXCEEDED && typeof retryAfter === 'number') {
    headers['retry-after'] = String(retryAfter);
  }
  if (code === ErrorCode.METHOD_NOT_ALLOWED) headers.allow = 'GET, POST, DELETE';
  return headers;
}

/**
 * The one place HTTP errors become responses: status from the error code,
 * a JSON-RPC error body clients can show, and the headers the status needs.
 */
export function sendError(
  response: ServerResponse,
  error: unknown,
  context: ChallengeContext & { id?: JsonRpcId | null } = {},
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const failure = toMcpTenantsError(error);
  sendJson(
    response,
    failure.httpStatus,
    errorResponse(context.id ?? null, failure.jsonRpcCode, failure.message, {
      code: failure.code,
      ...failure.data,
    }),
    errorHeaders(failure, context),
  );
}

interface BearerChallenge {
  /** RFC 6750 §3.1 error code; none when no credentials were given. */
  error?: 'invalid_token' | 'insufficient_scope';
  description?: string;
  /** The permission the call needs, for `insufficient_scope`. */
  scope?: string | undefined;
  resourceMetadataUrl?: string | undefined;
}

/** The `WWW-Authenticate` value: why the credentials did not do, in RFC 6750 terms. */
function bearerChallenge(challenge: BearerChallenge): string {
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
