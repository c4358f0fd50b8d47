import { CompactSign, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { TokenVerifier } from '../../src/auth/verify.js';
import type { AuthConfig } from '../../src/core/config.js';
import { McpTenantsError } from '../../src/core/errors.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
const AUTH: AuthConfig = { secret: SECRET };
const key = new TextEncoder().encode(SECRET);
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function sign(
  payload: JWTPayload,
  options: { alg?: string; exp?: number | null; secret?: Uint8Array } = {},
): Promise<string> {
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'HS256' });
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? nowSeconds() + 600);
  return jwt.sign(options.secret ?? key);
}

const tenantClaims = { tenant_id: 'acme', user_id: 'alice', permissions: ['tools:*'] };

const base64url = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

async function rejection(promise: Promise<unknown>): Promise<McpTenantsError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(McpTenantsError);
  return error as McpTenantsError;
}

async function expectRefused(
  verifier: TokenVerifier,
  token: string,
  reason: string,
  message: string,
): Promise<McpTenantsError> {
  const error = await rejection(verifier.verify(token));
  expect(error.code).toBe('AUTH_INVALID');
  expect(error.message).toBe(message);
  expect(error.data).toEqual({ reason });
  expect(error.message).not.toContain(token);
  expect(JSON.stringify(error.data)).not.toContain(token);
  return error;
}

describe('TokenVerifier construction', () => {
  it('refuses a secret shorter than 32 bytes', () => {
    let error: unknown;
    try {
      new TokenVerifier({ secret: 'short' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(McpTenantsError);
    expect((error as McpTenantsError).code).toBe('MANIFEST_INVALID');
    expect((error as McpTenantsError).message).not.toContain('short');
  });

  it('counts bytes, not characters', () => {
    expect(() => new TokenVerifier({ secret: 'é'.repeat(16) })).not.toThrow();
  });
});

describe('TokenVerifier.verify', () => {
  it('returns the context of a valid tenant token', async () => {
    const exp = nowSeconds() + 600;
    const token = await sign({ ...tenantClaims, jti: 'j1', iat: nowSeconds() }, { exp });
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context).toEqual({
      tenantId: 'acme',
      userId: 'alice',
      permissions: ['tools:*'],
      isOperator: false,
      isAdmin: false,
      expiresAt: exp,
      jti: 'j1',
      tokenId: 'jti:j1',
    });
  });

  it('names a token without a jti by its digest, so two such tokens never share a session', async () => {
    const one = await new TokenVerifier(AUTH).verify(await sign({ ...tenantClaims, n: 1 }));
    const two = await new TokenVerifier(AUTH).verify(await sign({ ...tenantClaims, n: 2 }));
    expect(one.jti).toBeUndefined();
    expect(one.tokenId).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    expect(one.tokenId).not.toBe(two.tokenId);
  });

  it('re-checks a context verified earlier for expiry and revocation, without the token', async () => {
    let now = Date.now();
    const revoked = new Set<string>();
    const verifier = new TokenVerifier(AUTH, {
      now: () => now,
      isRevoked: (jti) => revoked.has(jti),
    });
    const context = await verifier.verify(
      await sign({ ...tenantClaims, jti: 'j2' }, { exp: Math.floor(now / 1000) + 60 }),
    );
    expect(() => verifier.recheck(context)).not.toThrow();
    revoked.add('j2');
    expect(() => verifier.recheck(context)).toThrow('token has been revoked');
    revoked.clear();
    now += 120_000;
    expect(() => verifier.recheck(context)).toThrow('token expired');
  });

  it('flags admin tokens', async () => {
    const token = await sign({ ...tenantClaims, permissions: ['admin'] });
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context.isAdmin).toBe(true);
    expect(context.isOperator).toBe(false);
  });

  it('uses sub when there is no user_id, and the default permissions when there is no claim', async () => {
    const token = await sign({ tenant_id: 'acme', sub: 'bob' });
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context.userId).toBe('bob');
    expect(context.permissions).toEqual(['tools:*', 'resources:*', 'prompts:*']);
  });

  it('grants nothing for an explicitly empty permissions claim', async () => {
    const token = await sign({ ...tenantClaims, permissions: [] });
    expect((await new TokenVerifier(AUTH).verify(token)).permissions).toEqual([]);
  });

  it('prefers user_id over sub', async () => {
    const token = await sign({ tenant_id: 'acme', user_id: 'alice', sub: 'bob' });
    expect((await new TokenVerifier(AUTH).verify(token)).userId).toBe('alice');
  });

  it('accepts an operator token', async () => {
    const token = await sign({ user_id: 'ops', permissions: ['operator'] });
    const context = await new TokenVerifier(AUTH).verify(token);
    expect(context).toMatchObject({ tenantId: null, isOperator: true, isAdmin: false });
  });

  it('refuses an expired token', async () => {
    const token = await sign(tenantClaims, { exp: nowSeconds() - 60 });
    const error = await expectRefused(new TokenVerifier(AUTH), token, 'expired', 'token expired');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('tolerates a few seconds of clock skew', async () => {
    const token = await sign(tenantClaims, { exp: nowSeconds() - 2 });
    await expect(new TokenVerifier(AUTH).verify(token)).resolves.toMatchObject({
      tenantId: 'acme',
    });
  });

  it('refuses a token signed with another secret', async () => {
    const other = new TextEncoder().encode('another-secret-that-is-32-bytes-or-more');
    const token = await sign(tenantClaims, { secret: other });
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'invalid_signature',
      'token signature is invalid',
    );
  });

  it('refuses a tampered payload', async () => {
    const token = await sign(tenantClaims);
    const [header, , signature] = token.split('.');
    const forged = `${header}.${base64url({ ...tenantClaims, tenant_id: 'evil', exp: nowSeconds() + 600 })}.${signature}`;
    await expectRefused(
      new TokenVerifier(AUTH),
      forged,
      'invalid_signature',
      'token signature is invalid',
    );
  });

  it('refuses alg none', async () => {
    const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...tenantClaims, exp: nowSeconds() + 600 })}.`;
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'algorithm_not_allowed',
      'token algorithm must be HS256',
    );
  });

  it('refuses HS512 even with the right secret', async () => {
    const token = await sign(tenantClaims, { alg: 'HS512' });
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'algorithm_not_allowed',
      'token algorithm must be HS256',
    );
  });

  it('refuses RS256', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT(tenantClaims)
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('10m')
      .sign(privateKey);
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'algorithm_not_allowed',
      'token algorithm must be HS256',
    );
  });

  it('refuses a token that is not yet valid', async () => {
    const token = await sign({ ...tenantClaims, nbf: nowSeconds() + 600 });
    await expectRefused(new TokenVerifier(AUTH), token, 'not_yet_valid', 'token is not yet valid');
  });

  it('refuses a token without exp', async () => {
    const token = await sign(tenantClaims, { exp: null });
    await expectRefused(new TokenVerifier(AUTH), token, 'missing_exp', 'token has no exp claim');
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['two parts', 'abc.def'],
    ['bad base64 header', '!!!.e30.sig'],
    ['four parts', 'a.b.c.d'],
    ['header not JSON', `${Buffer.from('nope').toString('base64url')}.e30.sig`],
  ])('refuses a malformed token (%s)', async (_name, token) => {
    await expectRefused(new TokenVerifier(AUTH), token, 'malformed', 'token is malformed');
  });

  it.each([['nope'], ['[1,2]'], ['"text"']])(
    'refuses a signed payload that is not a claims object (%s)',
    async (payload) => {
      const token = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'HS256' })
        .sign(key);
      await expectRefused(new TokenVerifier(AUTH), token, 'malformed', 'token is malformed');
    },
  );

  describe('with iss and aud configured', () => {
    const auth: AuthConfig = { secret: SECRET, issuer: 'https://issuer', audience: ['mcp'] };

    it('accepts matching iss and aud', async () => {
      const token = await sign({ ...tenantClaims, iss: 'https://issuer', aud: ['x', 'mcp'] });
      await expect(new TokenVerifier(auth).verify(token)).resolves.toMatchObject({
        userId: 'alice',
      });
    });

    it('refuses a wrong issuer', async () => {
      const token = await sign({ ...tenantClaims, iss: 'https://other', aud: 'mcp' });
      await expectRefused(
        new TokenVerifier(auth),
        token,
        'issuer_mismatch',
        'token issuer is not https://issuer',
      );
    });

    it('refuses a missing issuer', async () => {
      const token = await sign({ ...tenantClaims, aud: 'mcp' });
      await expectRefused(
        new TokenVerifier(auth),
        token,
        'issuer_mismatch',
        'token issuer is not https://issuer',
      );
    });

    it('refuses a wrong audience', async () => {
      const token = await sign({ ...tenantClaims, iss: 'https://issuer', aud: 'other' });
      await expectRefused(
        new TokenVerifier(auth),
        token,
        'audience_mismatch',
        'token audience is not mcp',
      );
    });
  });

  it('ignores iss and aud when not configured', async () => {
    const token = await sign({ ...tenantClaims, iss: 'whoever', aud: 'whatever' });
    await expect(new TokenVerifier(AUTH).verify(token)).resolves.toMatchObject({
      tenantId: 'acme',
    });
  });

  it('refuses a token with neither tenant_id nor operator permission', async () => {
    const token = await sign({ user_id: 'alice', permissions: ['admin'] });
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'missing_tenant_id',
      'token has no tenant_id claim',
    );
  });

  it('refuses a tenant token that also claims operator', async () => {
    const token = await sign({ ...tenantClaims, permissions: ['operator'] });
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'invalid_claims',
      'token has both a tenant_id and the operator permission',
    );
  });

  it.each([['Acme'], ['../etc'], [''], ['a'.repeat(64)], [42]])(
    'refuses tenant_id %j',
    async (tenantId) => {
      const token = await sign({ ...tenantClaims, tenant_id: tenantId });
      await expectRefused(
        new TokenVerifier(AUTH),
        token,
        'invalid_tenant_id',
        'token tenant_id claim is not a valid tenant id',
      );
    },
  );

  it('refuses a token with neither user_id nor sub', async () => {
    const token = await sign({ tenant_id: 'acme' });
    await expectRefused(
      new TokenVerifier(AUTH),
      token,
      'missing_user_id',
      'token has no user_id or sub claim',
    );
  });

  it.each([[''], ['x'.repeat(257)], [7]])('refuses user_id %j', async (userId) => {
    const token = await sign({ tenant_id: 'acme', user_id: userId });
    const error = await rejection(new TokenVerifier(AUTH).verify(token));
    expect(error.data).toEqual({ reason: 'invalid_claims' });
  });

  it.each([['tools:*'], [['tools:*', 3]], [{ a: 1 }]])(
    'refuses permissions %j',
    async (permissions) => {
      const token = await sign({ ...tenantClaims, permissions });
      await expectRefused(
        new TokenVerifier(AUTH),
        token,
        'invalid_claims',
        'token permissions claim must be an array of strings',
      );
    },
  );

  it('refuses a non-numeric iat', async () => {
    const token = await sign({ ...tenantClaims, iat: 'yesterday' as unknown as number });
    const error = await rejection(new TokenVerifier(AUTH).verify(token));
    expect(error.data).toEqual({ reason: 'invalid_claims' });
  });
});

describe('TokenVerifier cache', () => {
  it('returns the same frozen context on a hit', async () => {
    const verifier = new TokenVerifier(AUTH);
    const token = await sign(tenantClaims);
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.permissions)).toBe(true);
  });

  it('refuses a cached token once it expires', async () => {
    let now = Date.now();
    const verifier = new TokenVerifier(AUTH, { now: () => now });
    const token = await signToken(AUTH, { tenantId: 'acme', userId: 'alice', ttlSeconds: 60, now });
    await verifier.verify(token);
    now += 30_000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'alice' });
    now += 60_000;
    await expectRefused(verifier, token, 'expired', 'token expired');
    // Still refused after the entry is dropped, now by jose itself.
    await expectRefused(verifier, token, 'expired', 'token expired');
  });

  it('uses the injected clock for jose checks too', async () => {
    const token = await sign(tenantClaims, { exp: nowSeconds() + 60 });
    const later = new TokenVerifier(AUTH, { now: () => Date.now() + 120_000 });
    await expectRefused(later, token, 'expired', 'token expired');
  });

  it('does not cache failures', async () => {
    let now = Date.now();
    const verifier = new TokenVerifier(AUTH, { now: () => now });
    const token = await sign({ ...tenantClaims, nbf: nowSeconds() + 60 });
    await expectRefused(verifier, token, 'not_yet_valid', 'token is not yet valid');
    now += 120_000;
    await expect(verifier.verify(token)).resolves.toMatchObject({ tenantId: 'acme' });
  });

  it('evicts the least recently used entry when full', async () => {
    const verifier = new TokenVerifier(AUTH, { cacheSize: 2 });
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((user) => sign({ tenant_id: 'acme', user_id: user })),
    );
    const ctxA = await verifier.verify(a!);
    const ctxB = await verifier.verify(b!);
    await verifier.verify(a!); // a is now the most recent
    await verifier.verify(c!); // evicts b
    expect(await verifier.verify(a!)).toBe(ctxA);
    expect(await verifier.verify(b!)).not.toBe(ctxB);
  });

  it('clear() forgets cached verifications', async () => {
    const verifier = new TokenVerifier(AUTH);
    const token = await sign(tenantClaims);
    const first = await verifier.verify(token);
    verifier.clear();
    const second = await verifier.verify(token);
    expect(second).not.toBe(first);
    expect(second).toEqual(first);
  });

  it('cacheSize 0 disables the cache', async () => {
    const verifier = new TokenVerifier(AUTH, { cacheSize: 0 });
    const token = await sign(tenantClaims);
    expect(await verifier.verify(token)).not.toBe(await verifier.verify(token));
  });
});

describe('TokenVerifier with an identity provider’s claim names (auth.claims)', () => {
  // The provider's key: the mapping is for its tokens, not for HS256 ones.
  const provider = generateKeyPair('ES256', { extractable: true });
  let pem = '';
  beforeAll(async () => {
    pem = await exportSPKI((await provider).publicKey);
  });
  const mapped = (claims: AuthConfig['claims']): TokenVerifier =>
    new TokenVerifier({ ...AUTH, claims, public_keys: [{ source: 'idp.pem', pem }] });
  const idp = { tenant: 'org_id', user: 'sub', permissions: 'scope' };
  const sign = async (payload: JWTPayload): Promise<string> =>
    new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256' })
      .setExpirationTime(nowSeconds() + 600)
      .sign((await provider).privateKey);

  it('leaves HS256 tokens of the manifest secret (ours, operators’) under our claim names', async () => {
    const verifier = mapped(idp);
    const operator = await signToken(AUTH, { operator: true, ttlSeconds: 600 });
    expect((await verifier.verify(operator)).isOperator).toBe(true);
    const tenant = await signToken(AUTH, { tenantId: 'acme', userId: 'alice', ttlSeconds: 600 });
    expect(await verifier.verify(tenant)).toMatchObject({ tenantId: 'acme', userId: 'alice' });
  });

  it('reads the tenant, user and a space-separated scope, keeping only our permissions', async () => {
    const token = await sign({
      org_id: 'acme',
      sub: 'auth0|alice',
      user_id: 'ignored',
      scope: 'openid profile tools:search_* resources:* offline_access',
    });
    const context = await mapped(idp).verify(token);
    expect(context).toMatchObject({
      tenantId: 'acme',
      userId: 'auth0|alice',
      permissions: ['tools:search_*', 'resources:*'],
      isOperator: false,
    });
  });

  it('reads an array claim, a nested path and a namespaced name', async () => {
    const token = await sign({
      'https://example.com/org': 'globex',
      sub: 'bob',
      realm_access: { roles: ['uma_authorization', 'admin', 'tools:*'] },
    });
    const context = await mapped({
      tenant: 'https://example.com/org',
      permissions: 'realm_access.roles',
    }).verify(token);
    expect(context).toMatchObject({ tenantId: 'globex', userId: 'bob', isAdmin: true });
    expect(context.permissions).toEqual(['admin', 'tools:*']);
  });

  it('takes the one group with the tenant prefix', async () => {
    const verifier = mapped({ tenant: 'groups', tenant_prefix: 'mcp:', permissions: 'scp' });
    const one = await sign({ groups: ['Everyone', 'mcp:acme'], sub: 'carol', scp: ['tools:*'] });
    expect((await verifier.verify(one)).tenantId).toBe('acme');
    const two = await sign({ groups: ['mcp:acme', 'mcp:globex'], sub: 'carol' });
    await expectRefused(
      verifier,
      two,
      'invalid_tenant_id',
      'token groups claim names 2 tenants; a token reaches exactly one',
    );
    const none = await sign({ groups: ['Everyone'], sub: 'carol' });
    await expectRefused(
      verifier,
      none,
      'missing_tenant_id',
      'token has no groups claim value starting with "mcp:"',
    );
  });

  it('refuses a tenant value that is no tenant id, and a user claim that is absent', async () => {
    await expectRefused(
      mapped(idp),
      await sign({ org_id: '../etc', sub: 'x' }),
      'invalid_tenant_id',
      'token org_id claim is not a valid tenant id',
    );
    await expectRefused(
      mapped(idp),
      await sign({ org_id: 'acme', user_id: 'alice' }),
      'missing_user_id',
      'token has no sub claim',
    );
    await expectRefused(
      mapped(idp),
      await sign({ org_id: 'acme', sub: 'a', scope: 42 }),
      'invalid_claims',
      'token scope claim must be an array of strings or a space-separated string',
    );
  });

  it('never grants operator, the defaults, or a role split out of a name', async () => {
    await expectRefused(
      mapped(idp),
      await sign({ sub: 'eve', scope: 'openid operator' }),
      'missing_tenant_id',
      'token has no org_id claim',
    );
    const unmapped = mapped({ tenant: 'org_id', permissions: 'permissions' });
    expect((await unmapped.verify(await sign({ org_id: 'acme', sub: 'eve' }))).permissions).toEqual(
      [],
    );
    const roles = mapped({ tenant: 'org_id', permissions: 'roles' });
    const named = await roles.verify(
      await sign({ org_id: 'acme', sub: 'eve', roles: 'Billing admin' }),
    );
    expect(named).toMatchObject({ permissions: [], isAdmin: false });
    // Scopes are separated by single spaces (RFC 6749 §3.3), nothing else.
    const spaced = await mapped(idp).verify(
      await sign({ org_id: 'acme', sub: 'eve', scope: 'openid\u00a0admin tools:data_get\tadmin' }),
    );
    expect(spaced).toMatchObject({ permissions: [], isAdmin: false });
  });

  it('grants nothing when the mapped permissions claim is absent', async () => {
    const context = await mapped(idp).verify(await sign({ org_id: 'acme', sub: 'dave' }));
    expect(context.permissions).toEqual([]);
  });

  it('asks an issuer’s tokens, not ours, for the resource as audience when none is set', async () => {
    const verifier = new TokenVerifier({
      ...AUTH,
      resource: 'https://mcp.test/mcp',
      public_keys: [{ source: 'idp.pem', pem }],
    });
    await expectRefused(
      verifier,
      await sign({ ...tenantClaims }),
      'audience_mismatch',
      'token audience is not https://mcp.test/mcp',
    );
    expect(
      await verifier.verify(await sign({ ...tenantClaims, aud: 'https://mcp.test/mcp' })),
    ).toMatchObject({ tenantId: 'acme' });
    const ours = await signToken(AUTH, { tenantId: 'acme', userId: 'alice', ttlSeconds: 600 });
    expect((await verifier.verify(ours)).tenantId).toBe('acme');
  });

  it('checks the audience against any of a list', async () => {
    const verifier = new TokenVerifier({
      ...AUTH,
      audience: ['https://a.test/mcp', 'api://b'],
      public_keys: [{ source: 'idp.pem', pem }],
    });
    expect(await verifier.verify(await sign({ ...tenantClaims, aud: 'api://b' }))).toMatchObject({
      tenantId: 'acme',
    });
    await expectRefused(
      verifier,
      await sign({ ...tenantClaims, aud: 'https://other.test/mcp' }),
      'audience_mismatch',
      'token audience is not https://a.test/mcp or api://b',
    );
  });
});
