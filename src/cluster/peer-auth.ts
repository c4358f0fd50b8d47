import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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

/** What a peer header vouches for: the request line and the headers that decide who is served. */
export interface PeerRequest {
  method: string;
  path: string;
  host: string;
  authorization: string;
  session: string;
}

/** The parts of a request the peer header binds, from its headers. */
export function peerRequestOf(request: {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}): PeerRequest {
  const one = (name: string): string => {
    const value = request.headers[name];
    return typeof value === 'string' ? value : '';
  };
  return {
    method: request.method ?? '',
    path: request.url ?? '',
    host: one('host'),
    authorization: one('authorization'),
    session: one('mcp-session-id'),
  };
}

/**
 * `<node>:<time>:<mac>` over the sender, the time, the request line, the
 * Host, the bearer token and the session id: a header seen once (the peer
 * channel may be plain HTTP) cannot vouch for another caller, session or
 * request line, nor after a minute.
 */
export function signPeerHeader(
  key: Buffer,
  from: string,
  request: PeerRequest,
  now = Date.now(),
): string {
  return `${from}:${now}:${mac(key, from, now, request)}`;
}

/** The sending node when the header is genuine; undefined when forged, stale or malformed. */
export function verifyPeerHeader(
  key: Buffer,
  header: string,
  request: PeerRequest,
  now = Date.now(),
): string | undefined {
  const parts = header.split(':');
  if (parts.length !== 3) return undefined;
  const [from, time, given] = parts as [string, string, string];
  const at = Number(time);
  if (!/^[a-z0-9-]{1,64}$/.test(from) || !Number.isSafeInteger(at)) return undefined;
  if (Math.abs(now - at) > MAX_SKEW_MS) return undefined;
  const expected = Buffer.from(mac(key, from, at, request), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  return from;
}

function mac(key: Buffer, from: string, at: number, request: PeerRequest): string {
  const parts = [from, String(at), request.method, request.path, request.host];
  return createHmac('sha256', key)
    .update(`${parts.join('\n')}\n`)
    .update(createHash('sha256').update(request.authorization).digest())
    .update(createHash('sha256').update(request.session).digest())
    .digest('base64url');
}
