import { describe, expect, it } from 'vitest';
import { newNodeId, ownerOfSession, sessionIdOf } from '../../src/cluster/node-id.js';
import {
  clusterKey,
  type PeerRequest,
  signPeerHeader,
  verifyPeerHeader,
} from '../../src/cluster/peer-auth.js';
import { preferredNode } from '../../src/cluster/placement.js';
import { tenantOfToken } from '../../src/cluster/token-tenant.js';

describe('rendezvous placement', () => {
  const tenants = Array.from({ length: 600 }, (_, i) => `tenant-${i}`);

  it('spreads tenants over the nodes about evenly', () => {
    const nodes = ['a', 'b', 'c'];
    const counts = new Map<string, number>();
    for (const tenant of tenants) {
      const node = preferredNode(tenant, nodes) as string;
      counts.set(node, (counts.get(node) ?? 0) + 1);
    }
    for (const node of nodes) expect(counts.get(node)).toBeGreaterThan(150);
  });

  it('moves only the tenants a joining node takes, and only those of a leaving node', () => {
    const before = new Map(
      tenants.map((tenant) => [tenant, preferredNode(tenant, ['a', 'b', 'c'])]),
    );
    const joined = new Map(
      tenants.map((tenant) => [tenant, preferredNode(tenant, ['a', 'b', 'c', 'd'])]),
    );
    const moved = tenants.filter((tenant) => before.get(tenant) !== joined.get(tenant));
    expect(moved.every((tenant) => joined.get(tenant) === 'd')).toBe(true);
    expect(moved.length).toBeGreaterThan(90);
    expect(moved.length).toBeLessThan(210);
    const left = new Map(tenants.map((tenant) => [tenant, preferredNode(tenant, ['a', 'c'])]));
    const changed = tenants.filter((tenant) => before.get(tenant) !== left.get(tenant));
    expect(changed.every((tenant) => before.get(tenant) === 'b')).toBe(true);
  });

  it('answers the same whatever the order of the list', () => {
    for (const tenant of tenants.slice(0, 50)) {
      expect(preferredNode(tenant, ['c', 'a', 'b'])).toBe(preferredNode(tenant, ['a', 'b', 'c']));
    }
    expect(preferredNode('acme', [])).toBeUndefined();
  });
});

describe('node ids and session ids', () => {
  it('makes ids a session id can carry, and reads the node back', () => {
    const node = newNodeId('Web_1.example.COM');
    expect(node).toMatch(/^web-1-example-com-[0-9a-f]{8}$/);
    expect(newNodeId('Web_1.example.COM')).not.toBe(node);
    expect(ownerOfSession(sessionIdOf(node, 'a2c5e0f4-1111-4222-8333-944445555666'))).toBe(node);
  });

  it('names no node for a session id no node made', () => {
    expect(ownerOfSession('a2c5e0f4-1111-4222-8333-944445555666')).toBeUndefined();
    expect(ownerOfSession('.abc')).toBeUndefined();
    expect(ownerOfSession('BAD NODE.abc')).toBeUndefined();
  });
});

describe('the peer header', () => {
  const key = clusterKey(undefined, 'a secret of at least thirty-two bytes!!');
  const request: PeerRequest = {
    method: 'POST',
    path: '/mcp',
    host: '127.0.0.1:7800',
    authorization: 'Bearer a.b.c',
    session: 'node-a.1234',
  };

  it('verifies for the request it was made for, within a minute', () => {
    const now = 1_800_000_000_000;
    const header = signPeerHeader(key, 'node-a', request, now);
    expect(verifyPeerHeader(key, header, request, now + 1_000)).toBe('node-a');
    expect(verifyPeerHeader(key, header, request, now + 61_000)).toBeUndefined();
    // Replayed for another request line, Host, caller or session: refused.
    for (const changed of [
      { method: 'GET' },
      { path: '/mcp?x' },
      { host: 'evil.example:7800' },
      { authorization: 'Bearer another.token.here' },
      { session: 'node-a.5678' },
    ]) {
      expect(verifyPeerHeader(key, header, { ...request, ...changed }, now)).toBeUndefined();
    }
  });

  it('refuses another key, a changed sender and garbage', () => {
    const now = Date.now();
    const header = signPeerHeader(key, 'node-a', request, now);
    const other = clusterKey('another cluster key of at least 32 bytes', 'x');
    expect(verifyPeerHeader(other, header, request, now)).toBeUndefined();
    expect(verifyPeerHeader(key, header.replace('node-a', 'node-b'), request, now)).toBeUndefined();
    for (const junk of ['', 'a:b', 'node-a:x:y', ':::', `node-a:${now}:`]) {
      expect(verifyPeerHeader(key, junk, request, now)).toBeUndefined();
    }
  });
});

describe('routing by the token tenant', () => {
  const token = (payload: unknown) =>
    `Bearer e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

  it('reads the tenant claim without verifying, for routing only', () => {
    expect(tenantOfToken(token({ tenant_id: 'acme' }))).toBe('acme');
    expect(tenantOfToken(token({ tenant_id: 7 }))).toBeUndefined();
    expect(tenantOfToken('Bearer not-a-jwt')).toBeUndefined();
    expect(tenantOfToken('Basic abc')).toBeUndefined();
    expect(tenantOfToken(token({ tenant_id: 'acme' }).replace('Bearer', 'bearer'))).toBe('acme');
    expect(tenantOfToken(undefined)).toBeUndefined();
  });
});
