/**
 * The `_meta` key under which the supervisor passes the calling user's id to
 * the child. The child records it (as `updated_by`) but never trusts it for
 * access decisions: the supervisor has already made those.
 */
export const USER_ID_META_KEY = 'io.mcp-tenants/user_id';

const MAX_USER_ID_LENGTH = 256;

/** The caller's user id from a request's `_meta`, when present and sane. */
export function userIdFromMeta(meta: Record<string, unknown> | undefined): string | undefined {
  const value = meta?.[USER_ID_META_KEY];
  if (typeof value !== 'string' || value === '' || value.length > MAX_USER_ID_LENGTH) {
    return undefined;
  }
  return /\p{Cc}/u.test(value) ? undefined : value;
}
