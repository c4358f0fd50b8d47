/** Tokens seen recently, and their tenant claim: routing reads each one once. */
const seen = new Map<string, string | undefined>();
const MAX_SEEN = 4_096;

/**
 * The `tenant_id` a bearer token claims, WITHOUT verifying it: for choosing
 * the node only. The node that serves the request verifies the token in
 * full, so a forged claim gets the request refused there, not served.
 */
export function tenantOfToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return undefined;
  const token = authorization.slice(7).trim();
  if (seen.has(token)) return seen.get(token);
  const tenant = decode(token);
  if (seen.size >= MAX_SEEN) seen.clear();
  seen.set(token, tenant);
  return tenant;
}

function decode(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16_384) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const tenant = (claims as { tenant_id?: unknown } | null)?.tenant_id;
    return typeof tenant === 'string' ? tenant : undefined;
  } catch {
    return undefined;
  }
}
