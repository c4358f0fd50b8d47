import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type CryptoKey, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { connectHttp, INITIALIZE, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { type PlainResponse, plainRequest } from '../helpers/raw-http.js';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const ISSUER = 'https://id.example.test';
const AUDIENCE = 'mcp-tenants-test';
const SECRET_VARIABLE = 'HOSTILE_TOKENS_TEST_SECRET';
const now = (): number => Math.floor(Date.now() / 1000);
const claims = { tenant_id: 'rec', user_id: 'mallory', permissions: ['tools:*'] };

interface Signed {
  alg?: string;
  key?: Uint8Array | CryptoKey;
  payload?: JWTPayload;
  exp?: number | null;
  iss?: string | null;
  aud?: string | null;
}

/**
 * Bearer tokens that must be refused, each with the status and a
 * WWW-Authenticate that says why; and no token or secret may ever show up in
 * the supervisor's output, an error body, the telemetry database or the
 * child's environment, argv or stdin (the recorder fixture dumps all three).
 * Revoked `jti` is tested with the policy suite; a permission refusal here.
 */
describe('tokens: hostile and broken bearer tokens', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let secretKey: Uint8Array;
  let rsa: { privateKey: CryptoKey; publicPem: string };
  const presented: string[] = [];
  let goodClient: Client | undefined;
  let stopped = false;

  async function sign(options: Signed = {}): Promise<string> {
    const jwt = new SignJWT(options.payload ?? claims).setProtectedHeader({
      alg: options.alg ?? 'HS256',
    });
    if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now() + 600);
    if (options.iss !== null) jwt.setIssuer(options.iss ?? ISSUER);
    if (options.aud !== null) jwt.setAudience(options.aud ?? AUDIENCE);
    jwt.setIssuedAt();
    const token = await jwt.sign(options.key ?? secretKey);
    presented.push(token);
    return token;
  }

  function initialize(authorization: string | undefined, path = ''): Promise<PlainResponse> {
    return plainRequest(`${serve.url}${path}`, {
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify(INITIALIZE),
    });
  }

  function expectChallenge(
    response: PlainResponse,
    /** undefined: no credentials at all; null: refused without a finer reason. */
    reason: string | null | undefined,
    description: RegExp,
  ): void {
    expect(response.status).toBe(401);
    expect(response.json?.error?.code).toBe(-30401);
    expect(response.json?.error?.message).toMatch(description);
    const challenge = String(response.headers['www-authenticate']);
    expect(challenge).toMatch(
      /^Bearer realm="mcp-tenants", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    if (reason === undefined) {
      // RFC 6750 §3.1: no credentials, no error code.
      expect(challenge).not.toMatch(/error=/);
      expect(response.json?.error?.data?.code).toBe('AUTH_MISSING');
    } else {
      expect(challenge).toMatch(/error="invalid_token", error_description="[^"]+"/);
      expect(challenge).toMatch(description);
      expect(response.json?.error?.data).toMatchObject({ code: 'AUTH_INVALID' });
      if (reason !== null) expect(response.json?.error?.data).toMatchObject({ reason });
    }
    for (const token of presented) expect(response.text).not.toContain(token);
  }

  beforeAll(async () => {
    workspace = createWorkspace({ rec: fixture('recorder.mjs') });
    secretKey = new TextEncoder().encode(workspace.secret);
    const pair = await generateKeyPair('RS256');
    rsa = { privateKey: pair.privateKey, publicPem: await exportSPKI(pair.publicKey) };
    writeFileSync(join(workspace.dir, 'issuer.pem'), rsa.publicPem);
    // The secret comes from the environment, as the README recommends.
    process.env[SECRET_VARIABLE] = workspace.secret;
    writeFileSync(
      workspace.manifestPath,
      JSON.stringify({
        server: { data_dir: './data' },
        auth: {
          secret: `\${${SECRET_VARIABLE}}`,
          issuer: ISSUER,
          audience: AUDIENCE,
          public_key_file: './issuer.pem',
        },
        tenants: { rec: fixture('recorder.mjs') },
      }),
    );
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    if (!stopped) await serve?.stop();
    delete process.env[SECRET_VARIABLE];
    workspace?.cleanup();
  });

  it('accepts a good HS256 token and a good RS256 token from the issuer (baseline)', async () => {
    const token = await sign();
    goodClient = await connectHttp(serve.url, token);
    expect(textOf(await goodClient.callTool({ name: 'echo', arguments: { text: 'ok' } }))).toBe(
      'ok',
    );
    const rs = await sign({ alg: 'RS256', key: rsa.privateKey });
    expect((await initialize(`Bearer ${rs}`)).status).toBe(200);
  });

  it('refuses a missing, garbage or non-Bearer credential', async () => {
    expectChallenge(await initialize(undefined), undefined, /missing bearer token/);
    expectChallenge(await initialize('Bearer '), 'malformed', /empty or malformed/);
    presented.push('not.a.jwt');
    expectChallenge(await initialize('Bearer not.a.jwt'), 'malformed', /token is malformed/);
    expectChallenge(await initialize('Bearer %%%'), 'malformed', /empty or malformed/);
    expectChallenge(
      await initialize('Basic bWFsbG9yeTpzZWNyZXQ='),
      'bad_scheme',
      /scheme must be Bearer/,
    );
  });

  it('refuses alg none, a wrong key, a tampered payload and algorithm confusion', async () => {
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ ...claims, exp: now() + 600, iss: ISSUER, aud: AUDIENCE }),
    ).toString('base64url')}.`;
    presented.push(unsigned);
    expectChallenge(
      await initialize(`Bearer ${unsigned}`),
      'algorithm_not_allowed',
      /token algorithm must be HS256 or RS256 or ES256/,
    );
    const otherKey = new TextEncoder().encode('another-secret-that-is-at-least-32-bytes');
    expectChallenge(
      await initialize(`Bearer ${await sign({ key: otherKey })}`),
      'invalid_signature',
      /signature is invalid/,
    );
    const [header, , signature] = (await sign()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...claims, user_id: 'admin', exp: now() + 600, iss: ISSUER, aud: AUDIENCE }),
    ).toString('base64url');
    const tampered = `${header}.${forged}.${signature}`;
    presented.push(tampered);
    expectChallenge(await initialize(`Bearer ${tampered}`), 'invalid_signature', /invalid/);
    // HS256 "signed" with the issuer's public key as the HMAC secret: the classic confusion.
    const confused = await sign({ key: new TextEncoder().encode(rsa.publicPem) });
    expectChallenge(
      await initialize(`Bearer ${confused}`),
      'invalid_signature',
      /signature is invalid/,
    );
    const otherPair = await generateKeyPair('RS256');
    const foreignRs = await sign({ alg: 'RS256', key: otherPair.privateKey });
    expectChallenge(await initialize(`Bearer ${foreignRs}`), 'invalid_signature', /invalid/);
    const hs512 = await sign({ alg: 'HS512' });
    expectChallenge(await initialize(`Bearer ${hs512}`), 'algorithm_not_allowed', /must be/);
  });

  it('refuses expired, not yet valid and exp-less tokens, and a wrong iss or aud', async () => {
    expectChallenge(
      await initialize(`Bearer ${await sign({ exp: now() - 60 })}`),
      'expired',
      /token expired/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ payload: { ...claims, nbf: now() + 600 } })}`),
      'not_yet_valid',
      /not yet valid/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ exp: null })}`),
      'missing_exp',
      /no exp claim/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ iss: 'https://evil.example' })}`),
      'issuer_mismatch',
      /issuer is not https:\/\/id\.example\.test/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ iss: null })}`),
      'issuer_mismatch',
      /issuer/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ aud: 'someone-else' })}`),
      'audience_mismatch',
      /audience is not mcp-tenants-test/,
    );
  });

  it('refuses bad tenant claims and unknown tenants', async () => {
    expectChallenge(
      await initialize(`Bearer ${await sign({ payload: { ...claims, tenant_id: '../rec' } })}`),
      'invalid_tenant_id',
      /tenant_id/,
    );
    expectChallenge(
      await initialize(`Bearer ${await sign({ payload: { user_id: 'mallory' } })}`),
      'missing_tenant_id',
      /no tenant_id/,
    );
    const stranger = await initialize(
      `Bearer ${await sign({ payload: { ...claims, tenant_id: 'initrode' } })}`,
    );
    expect(stranger.status).toBe(403);
    expect(stranger.json?.error).toMatchObject({ code: -30403, data: { code: 'TENANT_UNKNOWN' } });
    expect(stranger.json?.error?.message).toMatch(/tenant "initrode" is not in the manifest/);
    expect(stranger.headers['www-authenticate']).toMatch(
      /^Bearer realm="mcp-tenants", resource_metadata="[^"]+", error="insufficient_scope", error_description="[^"]*initrode/,
    );
  });

  it('answers a call the token does not cover with the permission it needs, in the body and the challenge', async () => {
    const token = await sign({ payload: { ...claims, permissions: ['tools:data_*'] } });
    const session = await rawSession(serve.url, token);
    const call = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: {} } },
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-11-25',
      },
    );
    expect(call.status).toBe(200);
    expect(call.body).toMatchObject({
      id: 7,
      error: { code: -30403, data: { code: 'FORBIDDEN', required_permission: 'tools:echo' } },
    });
    expect(call.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="mcp-tenants", error="insufficient_scope", scope="tools:echo", error_description="permission denied: tool echo needs/,
    );
    // The same token may still do what it covers.
    const list = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 8, method: 'tools/list' },
      {
        authorization: `Bearer ${token}`,
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-11-25',
      },
    );
    expect(list.status).toBe(200);
    expect(list.headers.get('www-authenticate')).toBeNull();
  });

  it('refuses a token in the query string, even next to a good header', async () => {
    const token = await sign();
    for (const query of [
      `?token=${token}`,
      `?access_token=${token}`,
      `?x=1&access_token=${token}`,
    ]) {
      const response = await initialize(`Bearer ${token}`, query);
      expectChallenge(response, null, /query string/);
    }
  });

  // Last: it stops the supervisor, so the telemetry it keeps is all on disk.
  it('never lets a token or the secret out: logs, database, error bodies, the child', async () => {
    await goodClient?.close();
    const { code, survivors } = await serve.stop();
    stopped = true;
    expect(code).toBe(0);
    expect(survivors).toEqual([]);
    // Nothing the supervisor wrote, kept or handed its child holds a token or the secret.
    const dataDir = join(workspace.dir, 'data');
    const places: [string, string][] = [
      ['supervisor stderr', serve.stderr()],
      ['supervisor stdout', serve.stdout()],
      ['child argv and environment', readFileSync(join(dataDir, 'rec', 'started.json'), 'utf8')],
      ['child stdin', readFileSync(join(dataDir, 'rec', 'received.log'), 'utf8')],
    ];
    for (const file of ['mcp-tenants.db', 'mcp-tenants.db-wal']) {
      const path = join(dataDir, file);
      if (existsSync(path)) places.push([file, readFileSync(path).toString('latin1')]);
    }
    for (const [place, text] of places) {
      expect(text.length, place).toBeGreaterThan(0);
      for (const token of presented) {
        expect(text.includes(token), `a token in ${place}`).toBe(false);
        // Nor its signature alone (a token cut down in a log line).
        const signature = token.split('.')[2] ?? '';
        if (signature.length > 16 && text.includes(signature)) {
          const line = text.split('\n').find((entry) => entry.includes(signature));
          expect.fail(`a token's signature in ${place}: ${line}`);
        }
      }
      expect(text.includes(workspace.secret), `the secret in ${place}`).toBe(false);
    }
    const started = JSON.parse(readFileSync(join(dataDir, 'rec', 'started.json'), 'utf8')) as {
      env: Record<string, string>;
    };
    expect(Object.keys(started.env)).not.toContain(SECRET_VARIABLE);
    // Query-string tokens are refused into the audit trail too, without the token.
    const audit = spawnSync(
      process.execPath,
      [CLI, 'audit', '-m', workspace.manifestPath, '--action', 'token_refused', '--format', 'json'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', [SECRET_VARIABLE]: workspace.secret },
      },
    );
    expect(audit.status, audit.stderr).toBe(0);
    const reasons = (
      JSON.parse(audit.stdout) as { rows: { detail: { reason?: string } | null }[] }
    ).rows.map((row) => row.detail?.reason);
    expect(reasons.filter((reason) => reason === 'token_in_query')).toHaveLength(3);
    for (const token of presented) expect(audit.stdout).not.toContain(token);
  });
});

describe('tokens: a server that only knows its HS256 secret', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;

  beforeAll(async () => {
    workspace = createWorkspace({ rec: fixture('recorder.mjs') });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.survivors).toEqual([]);
  });

  it('refuses RS256 and ES256 tokens, naming the one algorithm it takes', async () => {
    for (const alg of ['RS256', 'ES256']) {
      const pair = await generateKeyPair(alg);
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg })
        .setExpirationTime(now() + 600)
        .sign(pair.privateKey);
      const response = await plainRequest(serve.url, {
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify(INITIALIZE),
      });
      expect(response.status).toBe(401);
      expect(String(response.headers['www-authenticate'])).toMatch(
        /error="invalid_token", error_description="token algorithm must be HS256"/,
      );
    }
    const good = await signToken(
      { secret: workspace.secret },
      { tenantId: 'rec', userId: 'a', ttlSeconds: 60 },
    );
    const ok = await plainRequest(serve.url, {
      headers: {
        authorization: `Bearer ${good}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(INITIALIZE),
    });
    expect(ok.status).toBe(200);
  });
});
