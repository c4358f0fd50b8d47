import { ErrorCode, McpTenantsError } from '../core/errors.js';

/**
 * Machine-readable cause of an AUTH_INVALID error, carried in `error.data.reason`.
 * The HTTP front turns any of these into `WWW-Authenticate: Bearer
 * error="invalid_token"` and uses the message as `error_description`.
 */
export type AuthFailureReason =
  | 'bad_scheme'
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'invalid_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_exp'
  | 'issuer_mismatch'
  | 'audience_mismatch'
  | 'missing_tenant_id'
  | 'invalid_tenant_id'
  | 'missing_user_id'
  | 'invalid_claims'
  | 'revoked'
  | 'unknown_key'
  | 'keys_unavailable'
  | 'token_in_query';

/** Messages must stay safe to show a client: never put the token in them. */
export function authInvalid(
  reason: AuthFailureReason,
  message: string,
  cause?: unknown,
): McpTenantsError {
  return new McpTenantsError(ErrorCode.AUTH_INVALID, message, { cause, data: { reason } });
}
