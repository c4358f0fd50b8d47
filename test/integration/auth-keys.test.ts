import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/verify.js';
import type { AuthConfig } from '../../src/core/config.js';
import { McpTenantsError } from '../../src/core/errors.js';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!';
const claims = { tenant_id: 'acme', user_id: 'alice', permissions: ['tools:*'] };

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

async function signWith(
  pair: KeyPair,
  alg: 'RS256' | 'ES256',
  kid?: string,
  payload: JWTPayload = claims,
) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg, ...(kid !== undefined && { kid }) })
    .setExpirationTime('10m')
    .setJti(crypto.randomUUID())
    .sign(pair.privateKey);
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(McpTenantsError);
  return String((error as McpTenantsError).data?.reason);
}

/** A JWKS endpoint on 127.0.0.1 whose keys (and whether it answers) the test controls. */
async function jwksServer() {
  const state = { keys: [] as JWK[], hang: false, fetches: 0 };
  const server: Server = createServer((_request, response) => {
    state.fetches++;
    if (state.hang) return; // never answers: the verifier's timeout must give up
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  return {
    state,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('RS256/ES256 from PEM public keys', () => {
  it('accepts tokens of every listed key, by kid thumbprint or by trying each', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const auth: AuthConfig = {
      secret: SECRET,
      public_keys: [
        { source: 'rsa.pem', pem: await exportSPKI(rsa.publicKey) },
        { source: 'ec.pem', pem: await exportSPKI(ec.publicKey) },
      ],
    };
    const verifier = new TokenVerifier(auth);
    expect((await verifier.verify(await signWith(rsa, 'RS256'))).userId).toBe('alice');
    expect((await verifier.verify(await signWith(ec, 'ES256'))).tenantId).toBe('acme');
    const kid = await calculateJwkThumbprint(await exportJWK(rsa.publicKey));
    expect((await verifier.verify(await signWith(rsa, 'RS256', kid))).userId).toBe('alice');
    // HS256 with the secret still works next to them.
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    expect((await verifier.verify(hs)).userId).toBe('alice');
  });

  it('refuses a key it does not list, an unknown kid, and RS256 without any issuer key', async () => {
    const listed = await generateKeyPair('RS256', { extractable: true });
    const other = await generateKeyPair('RS256', { extractable: true });
    const auth: AuthConfig = {
      secret: SECRET,
      public_keys: [{ source: 'rsa.pem', pem: await exportSPKI(listed.publicKey) }],
    };
    const verifier = new TokenVerifier(auth);
    expect(await reasonOf(verifier.verify(await signWith(other, 'RS256')))).toBe(
      'invalid_signature',
    );
    expect(await reasonOf(verifier.verify(await signWith(listed, 'RS256', 'nope')))).toBe(
      'unknown_key',
    );
    const secretOnly = new TokenVerifier({ secret: SECRET });
    expect(await reasonOf(secretOnly.verify(await signWith(listed, 'RS256')))).toBe(
      'algorithm_not_allowed',
    );
  });
});

describe('RS256/ES256 from a JWKS URL', () => {
  let jwks: Awaited<ReturnType<typeof jwksServer>> | undefined;

  afterEach(async () => {
    await jwks?.close();
    jwks = undefined;
  });

  const publish = async (pair: KeyPair, kid: string, alg: string): Promise<JWK> => ({
    ...(await exportJWK(pair.publicKey)),
    kid,
    alg,
    use: 'sig',
  });

  it('follows key rotation: a new kid fetches the set again', async () => {
    jwks = await jwksServer();
    const first = await generateKeyPair('ES256', { extractable: true });
    const second = await generateKeyPair('RS256', { extractable: true });
    jwks.state.keys = [await publish(first, 'k1', 'ES256')];
    const verifier = new TokenVerifier({
      secret: SECRET,
      jwks: { url: jwks.url, timeout_ms: 2_000, cooldown_ms: 0 },
    });
    expect((await verifier.verify(await signWith(first, 'ES256', 'k1'))).userId).toBe('alice');
    const fetches = jwks.state.fetches;
    // Rotated: the issuer now signs with k2, and k1 is gone.
    jwks.state.keys = [await publish(second, 'k2', 'RS256')];
    expect((await verifier.verify(await signWith(second, 'RS256', 'k2'))).userId).toBe('alice');
    expect(jwks.state.fetches).toBe(fetches + 1);
    expect(await reasonOf(verifier.verify(await signWith(first, 'ES256', 'k1')))).toBe(
      'unknown_key',
    );
  });

  it('fails closed when the key set cannot be fetched, or not in time', async () => {
    jwks = await jwksServer();
    const pair = await generateKeyPair('RS256', { extractable: true });
    jwks.state.hang = true;
    const slow = new TokenVerifier({
      secret: SECRET,
      jwks: { url: jwks.url, timeout_ms: 200, cooldown_ms: 0 },
    });
    const error = await slow.verify(await signWith(pair, 'RS256', 'k1')).catch((caught) => caught);
    expect(error).toMatchObject({ code: 'AUTH_INVALID', data: { reason: 'keys_unavailable' } });
    expect((error as Error).message).toMatch(/key set \(jwks_url\) is unreachable/);

    const url = jwks.url;
    await jwks.close();
    jwks = undefined;
    const gone = new TokenVerifier({
      secret: SECRET,
      jwks: { url, timeout_ms: 1_000, cooldown_ms: 0 },
    });
    expect(await reasonOf(gone.verify(await signWith(pair, 'RS256', 'k1')))).toBe(
      'keys_unavailable',
    );
  });
});

describe('the jti deny list', () => {
  it('refuses a revoked token on the next verification, even from the cache', async () => {
    const revoked = new Set<string>();
    const verifier = new TokenVerifier(
      { secret: SECRET },
      { isRevoked: (jti) => revoked.has(jti) },
    );
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .setJti('jti-1')
      .sign(new TextEncoder().encode(SECRET));
    expect((await verifier.verify(token)).jti).toBe('jti-1');
    expect((await verifier.verify(token)).jti).toBe('jti-1'); // cached
    revoked.add('jti-1');
    const error = await verifier.verify(token).catch((caught) => caught);
    expect(error).toMatchObject({
      code: 'AUTH_INVALID',
      message: 'token has been revoked; ask for a new one',
      data: { reason: 'revoked' },
    });
  });
});
