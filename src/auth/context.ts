/**
 * Who is calling, as proven by a verified token. Everything downstream
 * (policy, quotas, telemetry) reads this, never the raw token.
 */
export interface TenantContext {
  /** The tenant the token is scoped to; null only for an operator token. */
  tenantId: string | null;
  /** From the `user_id` claim, or `sub` when there is no `user_id`. */
  userId: string;
  /** As listed in the token; `[]` when the claim is absent. */
  permissions: string[];
  /** Operator tokens run the supervisor but never call a tenant's tools. */
  isOperator: boolean;
  /** `admin` grants everything within the token's own tenant. */
  isAdmin: boolean;
  /** The token's `exp`, in epoch seconds. */
  expiresAt: number;
  jti?: string;
  /**
   * Names the exact token: `jti:<jti>`, or a digest of the token when it has
   * no `jti`. A session is bound to it, so another token (even the same
   * user's) can never act through a session it did not open.
   */
  tokenId: string;
}
