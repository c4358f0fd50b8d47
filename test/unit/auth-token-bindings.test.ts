import { describe, expect, it } from 'vitest';
import type { TenantContext } from '../../src/auth/context.js';
import { RevocationWatch } from '../../src/auth/revocation-watch.js';
import { TokenBindings } from '../../src/auth/token-bindings.js';
import type { McpTenantsError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';

const context = (jti: string, expiresInSeconds: number): TenantContext => ({
  tenantId: 'acme',
  userId: 'alice',
  permissions: [],
  isOperator: false,
  isAdmin: false,
  expiresAt: Math.floor(Date.now() / 1000) + expiresInSeconds,
  jti,
  tokenId: `jti:${jti}`,
});

describe('TokenBindings', () => {
  it('ends what a revoked token holds, and nothing else', () => {
    const bindings = new TokenBindings(0);
    const ended: string[] = [];
    bindings.bind(context('a', 600), (error) => ended.push(`a1 ${error.message}`));
    bindings.bind(context('a', 600), (error) => ended.push(`a2 ${error.message}`));
    const unbindB = bindings.bind(context('b', 600), () => ended.push('b'));
    expect(bindings.revoked('a')).toBe(2);
    expect(ended).toEqual([
      'a1 token has been revoked; ask for a new one',
      'a2 token has been revoked; ask for a new one',
    ]);
    expect(bindings.revoked('a')).toBe(0);
    expect(bindings.size).toBe(1);
    unbindB();
    expect(bindings.size).toBe(0);
  });

  it('ends a binding whose token has expired, and not one that was unbound first', async () => {
    const bindings = new TokenBindings(0);
    const expired = new Promise<McpTenantsError>((resolve) =>
      bindings.bind(context('old', -1), resolve),
    );
    expect((await expired).data).toEqual({ reason: 'expired' });
    let ended = false;
    const unbind = bindings.bind(context('gone', 600), () => {
      ended = true;
    });
    unbind();
    expect(bindings.revoked('gone')).toBe(0);
    expect(ended).toBe(false);
  });
});

describe('RevocationWatch', () => {
  it('announces each new revocation once, and survives a failing listener or source', () => {
    const rows: { jti: string; revoked_at: number }[] = [];
    let failing = false;
    const source = {
      revokedSince: (since: number) => {
        if (failing) throw new Error('database is locked');
        return rows.filter((row) => row.revoked_at >= since);
      },
    };
    const watch = new RevocationWatch(source, createLogger({ level: 'silent' }), 60_000, 1_000);
    const seen: string[] = [];
    watch.onRevoked(() => {
      throw new Error('listener bug');
    });
    watch.onRevoked((jti) => seen.push(jti));
    rows.push({ jti: 'x', revoked_at: 2_000 });
    watch.poll();
    watch.poll();
    failing = true;
    watch.poll();
    failing = false;
    rows.push({ jti: 'y', revoked_at: 1_500 }); // a clock a little behind
    watch.poll();
    expect(seen).toEqual(['x', 'y']);
    watch.close();
  });
});
