import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { TokenVerifier } from '../../src/auth/verify.js';
import type { AuthConfig } from '../../src/core/config.js';
import { McpTenantsError } from '../../src/core/errors.js';

const AUTH: AuthConfig = {
  secret: 'sign-test-secret-of-at-least-32-bytes!!',
  issuer: 'https://tenants.example',
  audience: ['mcp-tenants'],
};

async function usageError(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(McpTenantsError);
  expect((error as McpTenantsError).code).toBe('USAGE');
  return (error as McpTenantsError).message;
}

describe('signToken', () => {
  it('round-trips a tenant token through the verifier', async () => {
    const token = await signToken(AUTH, {
      tenantId: 'acme',
      userId: 'alice',
      permissions: ['admin', 'tools:*'],
      ttlSeconds: 3600,
    });
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context).toMatchObject({
      tenantId: 'acme',
      userId: 'alice',
      permissions: ['admin', 'tools:*'],
      isOperator: false,
      isAdmin: true,
    });
    expect(context.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes the contract claims', async () => {
    const now = 1_700_000_000_000;
    const token = await signToken(AUTH, {
      tenantId: 'acme',
      userId: 'alice',
      permissions: ['tools:*'],
      ttlSeconds: 60,
      jti: 'fixed',
      now,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decodeJwt(token)).toEqual({
      tenant_id: 'acme',
      user_id: 'alice',
      sub: 'alice',
      permissions: ['tools:*'],
      iat: 1_700_000_000,
      exp: 1_700_000_060,
      iss: 'https://tenants.example',
      aud: 'mcp-tenants',
      jti: 'fixed',
    });
  });

  it('omits iss and aud when not configured, and defaults permissions', async () => {
    const auth = { secret: AUTH.secret };
    const token = await signToken(auth, { tenantId: 'acme', userId: 'alice', ttlSeconds: 60 });
    const payload = decodeJwt(token);
    expect(payload.iss).toBeUndefined();
    expect(payload.aud).toBeUndefined();
    expect(payload.permissions).toEqual(['tools:*', 'resources:*', 'prompts:*']);
  });

  it('makes operator tokens', async () => {
    const token = await signToken(AUTH, { operator: true, ttlSeconds: 60, permissions: ['admin'] });
    const payload = decodeJwt(token);
    expect(payload.tenant_id).toBeUndefined();
    expect(payload.permissions).toEqual(['operator']);
    expect(payload.user_id).toBe('operator');
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context).toMatchObject({ tenantId: null, isOperator: true, userId: 'operator' });
  });

  it('gives each token a different jti', async () => {
    const claims = { tenantId: 'acme', userId: 'alice', ttlSeconds: 60 };
    const [a, b] = await Promise.all([signToken(AUTH, claims), signToken(AUTH, claims)]);
    expect(decodeJwt(a).jti).not.toBe(decodeJwt(b).jti);
  });

  it('refuses input the verifier would refuse', async () => {
    expect(await usageError(signToken(AUTH, { userId: 'a', ttlSeconds: 60 }))).toBe(
      'a tenant token needs a tenant id',
    );
    expect(
      await usageError(signToken(AUTH, { tenantId: 'Bad!', userId: 'a', ttlSeconds: 60 })),
    ).toMatch(/^invalid tenant id "Bad!"/);
    expect(
      await usageError(signToken(AUTH, { operator: true, tenantId: 'acme', ttlSeconds: 60 })),
    ).toMatch(/operator token has no tenant/);
    expect(await usageError(signToken(AUTH, { tenantId: 'acme', ttlSeconds: 60 }))).toMatch(
      /user id/,
    );
    await usageError(
      signToken(AUTH, { tenantId: 'acme', userId: 'a', permissions: ['operator'], ttlSeconds: 1 }),
    );
    for (const ttlSeconds of [0, -1, 1.5, 366 * 86_400 + 1]) {
      await usageError(signToken(AUTH, { tenantId: 'acme', userId: 'a', ttlSeconds }));
    }
  });

  it('refuses a short secret', async () => {
    const error = await signToken({ secret: 'x' }, { operator: true, ttlSeconds: 60 }).catch(
      (caught: unknown) => caught,
    );
    expect((error as McpTenantsError).code).toBe('MANIFEST_INVALID');
  });
});
