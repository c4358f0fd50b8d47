import { authInvalid } from '../auth/auth-error.js';
import type { RequestStage } from '../relay/pipeline.js';

/**
 * Refuses requests of a session whose token was revoked after it was opened.
 * HTTP fronts already re-verify the token on every request; a stdio session
 * verified it once at start, so this is where a revocation reaches it.
 */
export function revokedStage(isRevoked: (jti: string) => boolean): RequestStage {
  return async (context, next) => {
    const jti = context.session.caller.jti;
    if (jti !== undefined && isRevoked(jti)) {
      throw authInvalid('revoked', 'token has been revoked; ask for a new one');
    }
    return next(context.request);
  };
}
