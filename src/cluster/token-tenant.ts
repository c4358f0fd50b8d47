/**
 * The `tenant_id` a bearer token claims, WITHOUT verifying it: for choosing
 * the node only. The node that serves the request verifies the token in
 * full, so a forged claim gets the request refused there, not served.
 * (Decoding is a few microseconds: nothing is cached, so no token is kept.)
 */
export function tenantOfToken(authorization: string | undefined): string | undefined {
  // The scheme is case-insensitive (RFC 6750 via RFC 9110), as the verifier reads it.
  if (authorization === undefined || !/^bearer /i.test(authorization)) return undefined;
  const payload = authorization.slice(7).trim().split('.')[1];
  if (payload === undefined || payload.length > 16_384) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const tenant = (claims as { tenant_id?: unknown } | null)?.tenant_id;
    return typeof tenant === 'string' ? tenant : undefined;
  } catch {
    return undefined;
  }
}
