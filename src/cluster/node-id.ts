import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Node ids are `[a-z0-9-]`: a session id `<node>.<uuid>` splits at its first dot. */
const SESSION_SEPARATOR = '.';

/**
 * A node's id: the host's name (for people reading `nodes`) and random
 * hex (two processes on one host, or a restart, never share one).
 */
export function newNodeId(host = hostname()): string {
  const readable = host
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 24);
  return `${readable || 'node'}-${randomBytes(4).toString('hex')}`;
}

/** The session id a node hands out: it names the node, so every node can route it. */
export function sessionIdOf(nodeId: string, local: string): string {
  return `${nodeId}${SESSION_SEPARATOR}${local}`;
}

/** The node a session id names; undefined for an id no node of a cluster made. */
export function ownerOfSession(sessionId: string): string | undefined {
  const at = sessionId.indexOf(SESSION_SEPARATOR);
  if (at <= 0) return undefined;
  const node = sessionId.slice(0, at);
  return /^[a-z0-9-]{1,64}$/.test(node) ? node : undefined;
}
