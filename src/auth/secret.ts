import type { AuthConfig } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_SECRET_BYTES = 32;

/**
 * The secret as bytes, refusing short ones. Checked again here (not only in
 * the manifest loader) because signing and verifying are where it matters.
 */
export function secretBytes(auth: AuthConfig): Uint8Array {
  const bytes = new TextEncoder().encode(auth.secret);
  if (bytes.byteLength < MIN_SECRET_BYTES) {
    throw new McpTenantsError(
      ErrorCode.MANIFEST_INVALID,
      `auth.secret must be at least ${MIN_SECRET_BYTES} bytes (it has ${bytes.byteLength}); generate one with \`openssl rand -base64 48\``,
    );
  }
  return bytes;
}
