import { SignJWT } from 'jose';
import { type AuthConfig, TENANT_ID_PATTERN } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { OPERATOR_PERMISSION } from '../core/permissions.js';
import { MAX_USER_ID_LENGTH } from './claims.js';
import { MAX_DURATION_SECONDS } from './duration.js';
import { DEFAULT_PERMISSIONS } from './permissions.js';
import { secretBytes } from './secret.js';

export interface TokenClaims {
  /** Required for tenant tokens; must be absent for operator tokens. */
  tenantId?: string;
  /** Defaults to "operator" for operator tokens; required otherwise. */
  userId?: string;
  /** Defaults to DEFAULT_PERMISSIONS; ignored for operator tokens. */
  permissions?: readonly string[];
  ttlSeconds: number;
  operator?: boolean;
  /** Defaults to a random UUID, so each token can be told apart in logs. */
  jti?: string;
  /** Issue time in epoch milliseconds; defaults to now. */
  now?: number;
}

/**
 * Mints an HS256 token that TokenVerifier accepts. Input is checked with the
 * verifier's own rules, so a token that would be refused is never issued.
 */
export async function signToken(auth: AuthConfig, claims: TokenClaims): Promise<string> {
  const secret = secretBytes(auth);
  const operator = claims.operator === true;
  const userId = claims.userId ?? (operator ? 'operator' : undefined);
  const permissions = operator
    ? [OPERATOR_PERMISSION]
    : [...(claims.permissions ?? DEFAULT_PERMISSIONS)];
  checkClaims(claims, operator, userId, permissions);

  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  const payload: Record<string, unknown> = { user_id: userId, permissions };
  if (!operator) payload.tenant_id = claims.tenantId;
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId as string)
    .setIssuedAt(iat)
    .setExpirationTime(iat + claims.ttlSeconds)
    .setJti(claims.jti ?? crypto.randomUUID());
  if (auth.issuer !== undefined) jwt.setIssuer(auth.issuer);
  if (auth.audience?.[0] !== undefined) jwt.setAudience(auth.audience[0]);
  return jwt.sign(secret);
}

function checkClaims(
  claims: TokenClaims,
  operator: boolean,
  userId: string | undefined,
  permissions: string[],
): void {
  if (operator && claims.tenantId !== undefined) {
    throw usage('an operator token has no tenant: drop the tenant id or --operator');
  }
  if (!operator && (claims.tenantId === undefined || !TENANT_ID_PATTERN.test(claims.tenantId))) {
    throw usage(
      claims.tenantId === undefined
        ? 'a tenant token needs a tenant id'
        : `invalid tenant id ${JSON.stringify(claims.tenantId)}: use lowercase letters, digits, - and _`,
    );
  }
  if (!operator && permissions.includes(OPERATOR_PERMISSION)) {
    throw usage('operator tokens are made with --operator, not a permission');
  }
  if (userId === undefined || userId === '' || userId.length > MAX_USER_ID_LENGTH) {
    throw usage(`a token needs a user id of 1 to ${MAX_USER_ID_LENGTH} characters`);
  }
  const ttl = claims.ttlSeconds;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_DURATION_SECONDS) {
    throw usage('token lifetime must be a whole number of seconds between 1s and 366d');
  }
}

function usage(message: string): McpTenantsError {
  return new McpTenantsError(ErrorCode.USAGE, message);
}
