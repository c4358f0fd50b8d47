import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { authInvalid } from './auth-error.js';

// RFC 6750 §2.1: scheme is case-insensitive, credentials are a token68.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SCHEME = /^(\S+)/;

/**
 * The token from an `Authorization` header. An absent or blank header is
 * AUTH_MISSING (RFC 6750 §3.1: no error code); anything else that is not a
 * well-formed Bearer credential is AUTH_INVALID. The header is never echoed:
 * it may hold someone's Basic credentials.
 */
/** The token of a well-formed `Authorization: Bearer` header, else undefined; never throws. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header.trim())?.[1] || undefined;
}

export function parseBearer(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new McpTenantsError(
      ErrorCode.AUTH_MISSING,
      'missing bearer token: send Authorization: Bearer <token> (get one with `mcp-tenants token`)',
    );
  }
  const token = bearerToken(header);
  if (token !== undefined) return token;
  const scheme = SCHEME.exec(header.trim())?.[1] ?? '';
  if (scheme.toLowerCase() !== 'bearer') {
    return fail('bad_scheme', 'authorization scheme must be Bearer');
  }
  return fail('malformed', 'bearer token is empty or malformed');
}

function fail(reason: 'bad_scheme' | 'malformed', message: string): never {
  throw authInvalid(reason, message);
}
