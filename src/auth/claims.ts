import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { TENANT_ID_PATTERN } from '../core/config.js';
import { ADMIN_PERMISSION, OPERATOR_PERMISSION } from '../core/permissions.js';
import { authInvalid } from './auth-error.js';
import type { TenantContext } from './context.js';
import { DEFAULT_PERMISSIONS } from './permissions.js';

export const MAX_USER_ID_LENGTH = 256;

/**
 * Reads our own claims from a payload whose signature, exp, nbf, iss and aud
 * jose has already checked. Anything unexpected is refused rather than
 * guessed at: a token is either a tenant token or an operator token.
 */
export function contextFromClaims(payload: JWTPayload, token: string): TenantContext {
  const permissions = readPermissions(payload.permissions);
  const isOperatorPermission = permissions.includes(OPERATOR_PERMISSION);
  const tenantId = readTenantId(payload.tenant_id);
  if (tenantId === null && !isOperatorPermission) {
    throw authInvalid('missing_tenant_id', 'token has no tenant_id claim');
  }
  if (tenantId !== null && isOperatorPermission) {
    // Operators must never reach a tenant's tools; refuse the ambiguity.
    throw authInvalid('invalid_claims', 'token has both a tenant_id and the operator permission');
  }
  const context: TenantContext = {
    tenantId,
    userId: readUserId(payload),
    permissions,
    isOperator: tenantId === null,
    isAdmin: permissions.includes(ADMIN_PERMISSION),
    // jose has checked exp is present and a number (requiredClaims).
    expiresAt: payload.exp as number,
    tokenId: '',
  };
  const jti = readJti(payload.jti);
  if (jti !== undefined) context.jti = jti;
  context.tokenId = jti !== undefined ? `jti:${jti}` : `sha256:${digest(token)}`;
  return context;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function readTenantId(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !TENANT_ID_PATTERN.test(value)) {
    throw authInvalid('invalid_tenant_id', 'token tenant_id claim is not a valid tenant id');
  }
  return value;
}

function readUserId(payload: JWTPayload): string {
  const claim = payload.user_id !== undefined ? 'user_id' : 'sub';
  const value = payload[claim];
  if (value === undefined) {
    throw authInvalid('missing_user_id', 'token has no user_id or sub claim');
  }
  if (typeof value !== 'string' || value === '' || value.length > MAX_USER_ID_LENGTH) {
    throw authInvalid(
      'invalid_claims',
      `token ${claim} claim must be a non-empty string of at most ${MAX_USER_ID_LENGTH} characters`,
    );
  }
  return value;
}

function readPermissions(value: unknown): string[] {
  // No claim at all (typical of an external issuer): what `mcp-tenants token`
  // grants by default. An explicit empty list grants nothing.
  if (value === undefined) return [...DEFAULT_PERMISSIONS];
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw authInvalid('invalid_claims', 'token permissions claim must be an array of strings');
  }
  return [...(value as string[])];
}

function readJti(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw authInvalid('invalid_claims', 'token jti claim must be a string');
  }
  return value;
}
