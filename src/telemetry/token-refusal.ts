import { decodeJwt } from 'jose';
import { BurstLimiter } from '../core/burst-limiter.js';
import type { McpTenantsError } from '../core/errors.js';
import { type AuditEntry, SUPERVISOR_CHAIN } from './records.js';

/**
 * Refusals whose token had a valid signature: jose checks the signature
 * before the claims, so its `tenant_id` is the tenant's own and the refusal
 * goes into that tenant's chain. Anything else goes into the supervisor's.
 */
const SIGNED_REASONS: ReadonlySet<string> = new Set([
  'expired',
  'not_yet_valid',
  'issuer_mismatch',
  'audience_mismatch',
]);

/** At most this many token refusals per minute are recorded; the rest are counted. */
const MAX_PER_MINUTE = 120;

export interface RefusalInput {
  /** The refused token, when one could be read; it is decoded, never stored. */
  token: string | undefined;
  error: McpTenantsError;
  path: string;
  remoteAddress: string | undefined;
  now: number;
}

/**
 * Audit entries for refused tokens, bounded so that a flood of bad tokens
 * cannot flood the trail: beyond the cap a minute, refusals are only
 * counted, and the next recorded one says how many were left out.
 */
export class TokenRefusals {
  private readonly limiter = new BurstLimiter(MAX_PER_MINUTE, 60_000);

  constructor(private readonly isTenant: (id: string) => boolean) {}

  entry(input: RefusalInput): AuditEntry | undefined {
    const suppressed = this.limiter.admit(input.now);
    if (suppressed === undefined) return undefined;
    const reason = String(input.error.data?.reason ?? input.error.code);
    const claims = claimsOf(input.token);
    const trusted =
      SIGNED_REASONS.has(reason) && claims.tenant !== undefined && this.isTenant(claims.tenant);
    const detail: Record<string, unknown> = {
      reason,
      message: input.error.message.slice(0, 300),
      path: input.path,
    };
    if (input.remoteAddress !== undefined) detail.remote = input.remoteAddress;
    if (!trusted && claims.tenant !== undefined) detail.claimed_tenant = claims.tenant;
    if (suppressed > 0) detail.suppressed_before = suppressed;
    return {
      kind: 'audit',
      ts: input.now,
      tenant: trusted ? (claims.tenant as string) : SUPERVISOR_CHAIN,
      actor: trusted && claims.user !== undefined ? claims.user : 'anonymous',
      action: 'token_refused',
      target: null,
      outcome: input.error.code,
      detail,
    };
  }
}

/** The token's claims, unverified (only ever used as described above). */
function claimsOf(token: string | undefined): { tenant?: string; user?: string } {
  if (!token) return {};
  try {
    const claims = decodeJwt(token);
    const tenant = typeof claims.tenant_id === 'string' ? claims.tenant_id.slice(0, 63) : undefined;
    const rawUser = typeof claims.user_id === 'string' ? claims.user_id : claims.sub;
    const user = typeof rawUser === 'string' ? rawUser.slice(0, 200) : undefined;
    return { ...(tenant !== undefined && { tenant }), ...(user !== undefined && { user }) };
  } catch {
    return {};
  }
}
