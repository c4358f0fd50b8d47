import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { startIdentityProvider, type TestIdentityProvider } from '../helpers/oidc-provider.js';
import { waitFor } from '../helpers/processes.js';
import { runCli, type ServeProcess, startServe } from '../helpers/serve-process.js';

// Tokens of a real OpenID provider: the tenant in `org_id`, the permissions
// in `scope`, the resource in `aud`, the user in `sub` (the client id, for
// the client credentials grant).
const PUBLIC_URL = 'https://mcp.example.test';
const RESOURCE = `${PUBLIC_URL}/mcp`;
const ALL_SCOPES = 'openid tools:* resources:* prompts:*';
const SCOPES_SUPPORTED = ['tools:*', 'resources:*', 'prompts:*'];
const CLIENTS = { 'acme-app': 'acme', 'globex-app': 'globex', 'initech-app': 'initech' };

let idp: TestIdentityProvider;

beforeAll(async () => {
  idp = await startIdentityProvider(CLIENTS);
});

afterAll(async () => {
  await idp?.close();
});

describe('the identity provider', () => {
  it('issues RS256 JWT access tokens for the requested resource, with org_id and scope', async () => {
    const token = await idp.token('acme-app', { resource: RESOURCE, scope: ALL_SCOPES });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const payload = decodeJwt(token);
    expect(payload).toMatchObject({
      iss: idp.issuer,
      aud: RESOURCE,
      sub: 'acme-app',
      client_id: 'acme-app',
      org_id: 'acme',
      scope: ALL_SCOPES,
    });
    expect(payload.exp).toBeGreaterThan(Math.floor(Date.now() / 1000));
    // Verifiable with the keys it publishes, as the supervisor will.
    const keys = createRemoteJWKSet(new URL(idp.jwksUrl));
    const verified = await jwtVerify(token, keys, { issuer: idp.issuer, audience: RESOURCE });
    expect(verified.payload.org_id).toBe('acme');

    const other = decodeJwt(
      await idp.token('globex-app', {
        resource: 'https://other.example.test/mcp',
        scope: 'openid',
      }),
    );
    expect(other).toMatchObject({
      aud: 'https://other.example.test/mcp',
      org_id: 'globex',
      scope: 'openid',
    });
  });
});

describe('the supervisor with tokens of the identity provider', () => {
  let dir: string;
  let manifestPath: string;
  let serve: ServeProcess;
  const clients: Client[] = [];

  const connect = async (clientId: string, scope = ALL_SCOPES): Promise<Client> => {
    const client = await connectHttp(
      serve.url,
      await idp.token(clientId, { resource: RESOURCE, scope }),
    );
    clients.push(client);
    return client;
  };
  const failure = (promise: Promise<unknown>): Promise<string> =>
    promise.then(
      (result) => `resolved: ${JSON.stringify(result)}`,
      (error: Error) => error.message,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-idp-'));
    const manifest = {
      server: { data_dir: './data', public_url: PUBLIC_URL },
      auth: {
        secret: randomBytes(32).toString('base64url'),
        issuer: idp.issuer,
        jwks_url: idp.jwksUrl,
        audience: RESOURCE,
        authorization_servers: [idp.issuer],
        scopes_supported: SCOPES_SUPPORTED,
        claims: { tenant: 'org_id', user: 'sub', permissions: 'scope' },
      },
      tenants: { acme: {}, globex: {} },
    };
    manifestPath = join(dir, 'tenants.yaml');
    // JSON is valid YAML.
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2), { mode: 0o600 });
    serve = await startServe(manifestPath);
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
    const stopped = await serve?.stop();
    rmSync(dir, { recursive: true, force: true });
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  it('announces the identity provider and the scopes in its RFC 9728 metadata', async () => {
    const response = await fetch(
      serve.url.replace(/\/mcp$/, '/.well-known/oauth-protected-resource/mcp'),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      resource: RESOURCE,
      authorization_servers: [idp.issuer],
      scopes_supported: SCOPES_SUPPORTED,
    });
  });

  it("routes each organisation's token to its own tenant, and keeps their data apart", async () => {
    const acme = await connect('acme-app');
    const globex = await connect('globex-app');
    for (const client of [acme, globex]) {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toEqual(expect.arrayContaining(['data_set', 'data_get', 'data_list']));
    }
    const stored = await acme.callTool({
      name: 'data_set',
      arguments: { key: 'plan', value: 'acme plan' },
    });
    expect(stored.isError).toBeFalsy();
    await globex.callTool({ name: 'data_set', arguments: { key: 'plan', value: 'globex plan' } });
    await globex.callTool({ name: 'data_set', arguments: { key: 'globex-only', value: 'g' } });

    expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'plan' } }))).toBe(
      'acme plan',
    );
    expect(textOf(await globex.callTool({ name: 'data_get', arguments: { key: 'plan' } }))).toBe(
      'globex plan',
    );
    const missing = await acme.callTool({ name: 'data_get', arguments: { key: 'globex-only' } });
    expect(missing.isError).toBe(true);
    const keys = async (client: Client) =>
      (
        (await client.callTool({ name: 'data_list', arguments: {} })).structuredContent as {
          items: { key: string }[];
        }
      ).items.map((item) => item.key);
    expect(await keys(acme)).toEqual(['plan']);
    expect((await keys(globex)).sort()).toEqual(['globex-only', 'plan']);
  });

  it('attributes the calls to the user of the token (sub: the client id)', async () => {
    const globex = await connect('globex-app');
    await globex.callTool({ name: 'data_set', arguments: { key: 'audited', value: 'a' } });
    // The audit trail is written in batches (about every second): wait for it.
    type Row = { user?: string; target?: string };
    const rows = await waitFor(
      () => {
        const audit = runCli([
          'audit',
          '-m',
          manifestPath,
          '--tenant',
          'globex',
          '--format',
          'json',
        ]);
        expect(audit.stderr).toBe('');
        const found = (JSON.parse(audit.stdout) as { rows: Row[] }).rows.filter(
          (row) => row.target === 'data_set',
        );
        return found.length > 0 ? found : undefined;
      },
      10_000,
      'the audited call',
    );
    expect(new Set(rows.map((row) => row.user))).toEqual(new Set(['globex-app']));
  });

  it('refuses a token whose audience is another resource', async () => {
    const token = await idp.token('acme-app', {
      resource: 'https://other.example.test/mcp',
      scope: ALL_SCOPES,
    });
    const response = await rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${token}` });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({
      error: { code: -30401, data: { code: 'AUTH_INVALID', reason: 'audience_mismatch' } },
    });
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`error_description="token audience is not ${RESOURCE}"`);
  });

  it('lets a token without tools:* see and call no tool', async () => {
    const reader = await connect('acme-app', 'openid resources:*');
    expect((await reader.listTools()).tools).toEqual([]);
    expect(
      await failure(reader.callTool({ name: 'data_set', arguments: { key: 'k', value: 'v' } })),
    ).toMatch(
      /^MCP error -30403: permission denied: tool "data_set" needs the permission "tools:data_set"/,
    );
    // What the scope does grant still works.
    expect((await reader.listResources()).resources).toBeInstanceOf(Array);
  });

  it('refuses an organisation that is not a tenant of the manifest, naming it', async () => {
    const token = await idp.token('initech-app', { resource: RESOURCE, scope: ALL_SCOPES });
    const response = await rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${token}` });
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({
      error: { code: -30403, data: { code: 'TENANT_UNKNOWN' } },
    });
    expect((response.body as { error: { message: string } }).error.message).toMatch(
      /tenant "initech" is not in the manifest/,
    );
  });
});
