import { USER_ID_META_KEY } from '../core/child-meta.js';

// The supervisor sets this key on every request (see identity-meta.ts); the
// child records it (as `updated_by`) but never trusts it for access decisions.

const MAX_USER_ID_LENGTH = 256;

/** The caller's user id from a request's `_meta`, when present and sane. */
export function userIdFromMeta(meta: Record<string, unknown> | undefined): string | undefined {
  const value = meta?.[USER_ID_META_KEY];
  if (typeof value !== 'string' || value === '' || value.length > MAX_USER_ID_LENGTH) {
    return undefined;
  }
  return /\p{Cc}/u.test(value) ? undefined : value;
}
