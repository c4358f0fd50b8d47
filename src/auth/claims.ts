import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { type ClaimMapping, DEFAULT_CLAIMS, TENANT_ID_PATTERN } from '../core/config.js';
import { ADMIN_PERMISSION, OPERATOR_PERMISSION } from '../core/permissions.js';
import { authInvalid } from './auth-error.js';
import type { TenantContext } from './context.js';
import { DEFAULT_PERMISSIONS, isValidPermission } from './permissions.js';

export const MAX_USER_ID_LENGTH = 256;

/**
 * Reads the tenant, user and permissions from a payload whose signature,
 * exp, nbf, iss and aud jose has already checked, under the claim names the
 * manifest maps (an identity provider's `org_id`, `scope`…). Anything
 * unexpected is refused rather than guessed at: a token is either a tenant
 * token or an operator token.
 */
export function contextFromClaims(
  payload: JWTPayload,
  token: string,
  issuer: ClaimSource = OURS,
): TenantContext {
  const { mapping } = issuer;
  const permissions = readPermissions(payload, issuer);
  const isOperatorPermission = permissions.includes(OPERATOR_PERMISSION);
  const tenantId = readTenantId(payload, mapping);
  if (tenantId === null && !isOperatorPermission) {
    const prefix = mapping.tenant_prefix;
    const wanted = prefix === undefined ? '' : ` value starting with ${JSON.stringify(prefix)}`;
    throw authInvalid('missing_tenant_id', `token has no ${mapping.tenant} claim${wanted}`);
  }
  if (tenantId !== null && isOperatorPermission) {
    // Operators must never reach a tenant's tools; refuse the ambiguity.
    throw authInvalid(
      'invalid_claims',
      `token has both a ${mapping.tenant} and the operator permission`,
    );
  }
  const context: TenantContext = {
    tenantId,
    userId: readUserId(payload, mapping.user),
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

/**
 * Who signed the token, and under which claim names to read it: our own
 * tokens (the manifest secret) with our names, or an identity provider's,
 * whose grants are only ever the ones it names — never the defaults, never
 * `operator` (a common role name there; operators use our tokens).
 */
export interface ClaimSource {
  mapping: ClaimMapping;
  external: boolean;
}

const OURS: ClaimSource = { mapping: DEFAULT_CLAIMS, external: false };

/** The OAuth claims that hold space-separated scopes (RFC 6749 §3.3, RFC 9068). */
const SCOPE_CLAIMS: ReadonlySet<string> = new Set(['scope', 'scp']);

/**
 * A claim by its name, else (for a name with dots that is no claim of its
 * own, unlike Auth0's namespaced `https://example.com/org`) by its path
 * through nested objects, like Keycloak's `realm_access.roles`.
 */
export function claimValue(payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name];
  if (!name.includes('.')) return undefined;
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function readTenantId(payload: JWTPayload, mapping: ClaimMapping): string | null {
  const claim = mapping.tenant;
  const value = claimValue(payload, claim);
  if (value === undefined || value === null) return null;
  // A list (an identity provider's groups or organisations) only under a mapped claim.
  const listed = claim !== DEFAULT_CLAIMS.tenant && Array.isArray(value);
  const values: unknown[] = typeof value === 'string' ? [value] : listed ? value : [];
  if (!listed && values.length === 0) {
    throw authInvalid('invalid_tenant_id', `token ${claim} claim is not a valid tenant id`);
  }
  if (!values.every((entry) => typeof entry === 'string')) {
    throw authInvalid('invalid_tenant_id', `token ${claim} claim must list strings`);
  }
  const prefix = mapping.tenant_prefix;
  const tenants = (values as string[]).flatMap((entry) =>
    prefix === undefined ? [entry] : entry.startsWith(prefix) ? [entry.slice(prefix.length)] : [],
  );
  if (tenants.length > 1) {
    throw authInvalid(
      'invalid_tenant_id',
      `token ${claim} claim names ${tenants.length} tenants; a token reaches exactly one`,
    );
  }
  const [tenant] = tenants;
  if (tenant === undefined) return null;
  if (!TENANT_ID_PATTERN.test(tenant)) {
    throw authInvalid('invalid_tenant_id', `token ${claim} claim is not a valid tenant id`);
  }
  return tenant;
}

function readUserId(payload: JWTPayload, mapped: string | undefined): string {
  const claim = mapped ?? (payload.user_id !== undefined ? 'user_id' : 'sub');
  const value = claimValue(payload, claim);
  if (value === undefined) {
    throw authInvalid(
      'missing_user_id',
      mapped === undefined ? 'token has no user_id or sub claim' : `token has no ${claim} claim`,
    );
  }
  if (typeof value !== 'string' || value === '' || value.length > MAX_USER_ID_LENGTH) {
    throw authInvalid(
      'invalid_claims',
      `token ${claim} claim must be a non-empty string of at most ${MAX_USER_ID_LENGTH} characters`,
    );
  }
  return value;
}

function readPermissions(payload: JWTPayload, issuer: ClaimSource): string[] {
  const claim = issuer.mapping.permissions;
  const value = claimValue(payload, claim);
  // Ours without the claim: what `mcp-tenants token` grants by default; an
  // explicit empty list grants nothing. An identity provider's: nothing.
  if (value === undefined) return issuer.external ? [] : [...DEFAULT_PERMISSIONS];
  // An OAuth scope claim is one string of scopes separated by single spaces;
  // any other string is one value (a role named "Billing admin" is no admin).
  if (typeof value === 'string' && issuer.external) {
    const entries = SCOPE_CLAIMS.has(claim) ? value.split(' ') : [value];
    return entries.filter(isValidPermission);
  }
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw authInvalid(
      'invalid_claims',
      issuer.external
        ? `token ${claim} claim must be an array of strings or a space-separated string`
        : 'token permissions claim must be an array of strings',
    );
  }
  // Ours are taken as they are; a provider's hold other services' scopes too.
  return issuer.external ? value.filter(isValidPermission) : [...value];
}

function readJti(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw authInvalid('invalid_claims', 'token jti claim must be a string');
  }
  return value;
}
