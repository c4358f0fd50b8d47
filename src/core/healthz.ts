import { createHmac } from 'node:crypto';

/** What `GET /healthz` names in its `server` header (no version: nothing for a scanner). */
export const HEALTHZ_SERVER = 'mcp-tenants';

/** The header of `GET /healthz?proof=<nonce>` that answers with {@link healthzProof}. */
export const PROOF_HEADER = 'mcp-tenants-proof';

/** A nonce `GET /healthz` proves itself on: long enough not to repeat, short enough to bound. */
export const PROOF_NONCE = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * That the supervisor on a port holds this manifest's secret, for
 * `mcp-tenants doctor`: an HMAC of the caller's nonce, under a key derived
 * from the secret for this use only (what anyone may ask for must be of no
 * use for anything else, tokens least of all).
 */
export function healthzProof(secret: string, nonce: string): string {
  const key = createHmac('sha256', secret).update('mcp-tenants healthz proof key').digest();
  return createHmac('sha256', key).update(nonce).digest('base64url');
}

/**
 * The headers of a `GET /healthz` answer. Its body stays liveness only:
 * nothing about tenants, sessions or limits; the proof only for a nonce.
 */
export function healthzHeaders(
  secret: string,
  nonce: string | null | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { 'cache-control': 'no-store', server: HEALTHZ_SERVER };
  if (nonce && PROOF_NONCE.test(nonce)) headers[PROOF_HEADER] = healthzProof(secret, nonce);
  return headers;
}
