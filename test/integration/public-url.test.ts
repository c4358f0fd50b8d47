import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { INITIALIZE as RAW_INITIALIZE } from '../helpers/mcp-client.js';
import { plainRequest, rawExchange } from '../helpers/raw-http.js';
import {
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const PUBLIC = 'https://mcp.example.test';
const INITIALIZE = JSON.stringify(RAW_INITIALIZE);
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

// What a TLS proxy on the same host sends on: our loopback address, the public Host.
describe('serve behind a proxy (server.public_url)', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const post = (headers: Record<string, string>, path = '/mcp') =>
    plainRequest(serve.url.replace('/mcp', path), {
      headers: { ...MCP_HEADERS, host: 'mcp.example.test', ...headers },
      body: INITIALIZE,
    });

  beforeAll(async () => {
    workspace = createWorkspace({ acme: {} }, { public_url: PUBLIC });
    serve = await startServe(workspace.manifestPath);
  });
  afterAll(async () => {
    await serve?.stop();
    workspace?.cleanup();
  });

  it('announces the public URL as the resource and never an empty authorization_servers', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const metadata = await plainRequest(serve.url.replace('/mcp', path), { method: 'GET' });
      expect(metadata.status).toBe(200);
      expect(JSON.parse(metadata.text)).toEqual({
        resource: `${PUBLIC}/mcp`,
        authorization_servers: [PUBLIC],
        bearer_methods_supported: ['header'],
        resource_name: 'mcp-tenants',
      });
    }
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toContain(
      `resource_metadata="${PUBLIC}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it('admits the public Host and Origin, and serves a token made for the public resource', async () => {
    const token = await workspace.token('acme');
    const answer = await post({ authorization: `Bearer ${token}`, origin: PUBLIC });
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('"serverInfo"');
  });

  it('refuses another Host, naming the settings that would admit it', async () => {
    const token = await workspace.token('acme');
    const answer = await post({ authorization: `Bearer ${token}`, host: 'elsewhere.example.test' });
    expect(answer.status).toBe(403);
    expect(answer.json?.error?.message).toMatch(/server\.public_url.*server\.allowed_hosts/);
  });

  it('refuses a request with two Host headers (a proxy may read the other one)', async () => {
    const token = await workspace.token('acme');
    const port = Number(new URL(serve.url).port);
    const { answer } = await rawExchange(
      port,
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: elsewhere.example.test\r\n` +
        `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(INITIALIZE)}\r\n` +
        `Connection: close\r\n\r\n${INITIALIZE}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('more than one Host header');
  });

  it('serves our own tokens, made before public_url was set, without an audience', async () => {
    // The resource is the audience an identity provider's tokens must carry; ours are for us only.
    const bare = await signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: 'alice', ttlSeconds: 600 },
    );
    const answer = await post({ authorization: `Bearer ${bare}` });
    expect(answer.status).toBe(200);
  });

  it('answers the OAuth endpoints with an error that says how to send a token', async () => {
    const cases = [
      ['GET', '/.well-known/oauth-authorization-server', 404],
      ['GET', '/.well-known/oauth-authorization-server/mcp', 404],
      ['GET', '/.well-known/openid-configuration', 404],
      ['POST', '/register', 400],
      ['GET', '/authorize?response_type=code&client_id=x', 400],
      ['POST', '/token', 400],
    ] as const;
    for (const [method, path, status] of cases) {
      const answer = await plainRequest(serve.url.replace('/mcp', path), {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      expect(answer.status, `${method} ${path}`).toBe(status);
      const body = JSON.parse(answer.text) as { error: string; error_description: string };
      expect(body.error).toBe(status === 404 ? 'not_found' : 'invalid_request');
      expect(body.error_description).toContain('Authorization: Bearer <token>');
      expect(body.error_description).toContain('mcp-tenants token');
    }
    // The operator hears of it too (rate-limited), never with a token.
    expect(serve.stderr()).toContain('refused an OAuth request');
  });
});

describe('serve with an identity provider announced', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const IDP = 'https://idp.example.test/realms/acme';

  beforeAll(async () => {
    workspace = createWorkspace(
      { acme: {} },
      {},
      { authorization_servers: [IDP], scopes_supported: ['tools:*', 'resources:*'] },
    );
    serve = await startServe(workspace.manifestPath);
  });
  afterAll(async () => {
    await serve?.stop();
    workspace?.cleanup();
  });

  it('lists its authorization servers and scopes (RFC 9728) and asks for the scopes on 401', async () => {
    const metadata = await plainRequest(
      serve.url.replace('/mcp', '/.well-known/oauth-protected-resource/mcp'),
      { method: 'GET' },
    );
    expect(JSON.parse(metadata.text)).toMatchObject({
      resource: serve.url,
      authorization_servers: [IDP],
      scopes_supported: ['tools:*', 'resources:*'],
    });
    const missing = await plainRequest(serve.url, { headers: MCP_HEADERS, body: INITIALIZE });
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('scope="tools:* resources:*"');
    const register = await plainRequest(serve.url.replace('/mcp', '/register'), { body: '{}' });
    expect(JSON.parse(register.text).error_description).toContain(`get one from ${IDP}`);
  });
});
