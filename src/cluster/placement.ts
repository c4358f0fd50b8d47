import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: each tenant goes to the node
 * with the highest hash of (tenant, node). A node joining takes about 1/n
 * of the tenants and a node leaving gives away only its own; every node
 * computes the same answer from the same list, with no coordination.
 */
export function preferredNode(tenantId: string, nodeIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const node of nodeIds) {
    const score = createHash('sha256')
      .update(tenantId)
      .update('\0')
      .update(node)
      .digest()
      .readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
