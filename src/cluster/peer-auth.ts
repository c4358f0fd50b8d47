import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header a node adds to a request it forwards to a peer. */
export const PEER_HEADER = 'x-mcp-tenants-peer';

/** A forwarded request older than this (or from a clock this far off) is refused. */
const MAX_SKEW_MS = 60_000;

/**
 * The key nodes authenticate each other with: `cluster.key`, else one
 * derived from `auth.secret` (every node has the same manifest, so the
 * same secret, and the derived key signs nothing a token could be).
 */
export function clusterKey(configured: string | undefined, authSecret: string): Buffer {
  if (configured !== undefined) return Buffer.from(configured, 'utf8');
  return createHmac('sha256', authSecret).update('mcp-tenants cluster key v1').digest();
}

/**
 * `<node>:<time>:<mac>` over the sender, the time and the request line,
 * so a header seen once cannot be replayed for another request line or
 * after a minute.
 */
export function signPeerHeader(
  key: Buffer,
  from: string,
  method: string,
  path: string,
  now = Date.now(),
): string {
  return `${from}:${now}:${mac(key, from, now, method, path)}`;
}

/** The sending node when the header is genuine; undefined when forged, stale or malformed. */
export function verifyPeerHeader(
  key: Buffer,
  header: string,
  method: string,
  path: string,
  now = Date.now(),
): string | undefined {
  const parts = header.split(':');
  if (parts.length !== 3) return undefined;
  const [from, time, given] = parts as [string, string, string];
  const at = Number(time);
  if (!/^[a-z0-9-]{1,64}$/.test(from) || !Number.isSafeInteger(at)) return undefined;
  if (Math.abs(now - at) > MAX_SKEW_MS) return undefined;
  const expected = Buffer.from(mac(key, from, at, method, path), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  return from;
}

function mac(key: Buffer, from: string, at: number, method: string, path: string): string {
  return createHmac('sha256', key).update(`${from}\n${at}\n${method}\n${path}`).digest('base64url');
}
