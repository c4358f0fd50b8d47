import { errors } from 'jose';
import type { McpTenantsError } from '../core/errors.js';
import { authInvalid } from './auth-error.js';

/** Expected settings, so mismatch messages can name what was wanted. */
export interface ExpectedClaims {
  issuer?: string | undefined;
  audience?: readonly string[] | undefined;
  /** The algorithms accepted, for the message when another one is used. */
  algorithms?: readonly string[] | undefined;
}

/**
 * Turns whatever jose threw into one short AUTH_INVALID. jose's own messages
 * are fine but generic; ours say which check failed. The jose error stays as
 * `cause` for logs.
 */
export function fromJoseError(error: unknown, expected: ExpectedClaims): McpTenantsError {
  if (error instanceof errors.JWTExpired) {
    return authInvalid('expired', 'token expired', error);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return authInvalid('invalid_signature', 'token signature is invalid', error);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    const allowed = (expected.algorithms ?? ['HS256']).join(' or ');
    return authInvalid('algorithm_not_allowed', `token algorithm must be ${allowed}`, error);
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return authInvalid(
      'unknown_key',
      'token is signed with a key the issuer does not publish',
      error,
    );
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return keysUnavailable(error);
  }
  // jose reports a JWKS endpoint answering other than 200 as a generic error.
  if (
    error instanceof errors.JOSEError &&
    error.code === 'ERR_JOSE_GENERIC' &&
    /JSON Web Key Set/.test(error.message)
  ) {
    return keysUnavailable(error);
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return fromClaimError(error, expected);
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported, and anything unforeseen: fail
  // closed with the least specific (and least revealing) answer.
  return authInvalid('malformed', 'token is malformed', error);
}

function fromClaimError(
  error: InstanceType<typeof errors.JWTClaimValidationFailed>,
  expected: ExpectedClaims,
): McpTenantsError {
  const missing = error.reason === 'missing';
  switch (error.claim) {
    case 'exp':
      return missing
        ? authInvalid('missing_exp', 'token has no exp claim', error)
        : authInvalid('invalid_claims', 'token exp claim must be a number', error);
    case 'nbf':
      return error.reason === 'check_failed'
        ? authInvalid('not_yet_valid', 'token is not yet valid', error)
        : authInvalid('invalid_claims', 'token nbf claim must be a number', error);
    case 'iss':
      return authInvalid('issuer_mismatch', `token issuer is not ${expected.issuer ?? ''}`, error);
    case 'aud':
      return authInvalid(
        'audience_mismatch',
        `token audience is not ${(expected.audience ?? []).join(' or ')}`,
        error,
      );
    default:
      return authInvalid('invalid_claims', `token ${error.claim} claim is invalid`, error);
  }
}

/**
 * The issuer's key set could not be fetched (unreachable, too slow, not a
 * JWKS): the token is refused. Failing closed is the point; the message says
 * it is not the caller's token that is wrong.
 */
export function keysUnavailable(cause: unknown): McpTenantsError {
  return authInvalid(
    'keys_unavailable',
    "token cannot be verified now: the issuer's key set (jwks_url) is unreachable; try again later",
    cause,
  );
}
