import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { INITIALIZE, rawPost, rawSession } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import { openEventStream } from '../helpers/raw-http.js';
import { type RawStdio, startRawStdio } from '../helpers/raw-stdio.js';
import {
  createWorkspace,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** A 2026-07-28 `subscriptions/listen` for tool list changes. */
const LISTEN = {
  jsonrpc: '2.0',
  method: 'subscriptions/listen',
  params: {
    notifications: { toolsListChanged: true },
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
};

/**
 * A session, a stream or a stdio connection is only as good as the token
 * behind it: another token never acts through it, and expiry or revocation
 * ends it, between requests too.
 */
describe('sessions and streams are bound to their token', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;

  beforeAll(async () => {
    workspace = createWorkspace({ acme: {}, broken: { command: '/nonexistent/server' } });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    const { survivors } = await serve.stop();
    workspace.cleanup();
    expect(survivors).toEqual([]);
  });

  const token = (permissions?: string[], user = 'alice', ttlSeconds = 600, jti?: string) =>
    signToken(
      { secret: workspace.secret },
      {
        tenantId: 'acme',
        userId: user,
        ttlSeconds,
        ...(permissions && { permissions }),
        ...(jti && { jti }),
      },
    );
  const call = (id: number, name: string, args: Record<string, unknown>) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args },
  });
  const revoke = (jti: string) => {
    const result = runCli(['revoke', jti, '-m', workspace.manifestPath]);
    expect(result.code, result.stderr).toBe(0);
  };

  it('refuses a narrower token of the same user on a session a broader one opened', async () => {
    const broad = await token(['tools:*']);
    const narrow = await token(['tools:data_get']);
    const session = await rawSession(serve.url, broad);
    const write = await rawPost(serve.url, call(1, 'data_set', { key: 'k', value: 'v' }), {
      authorization: `Bearer ${narrow}`,
      'mcp-session-id': session,
    });
    expect(write.status).toBe(404);
    expect(JSON.stringify(write.body)).toMatch(/opened with another token/);
    // On a session of its own, the narrow token is held to its permissions.
    const own = await rawSession(serve.url, narrow);
    const refused = await rawPost(serve.url, call(2, 'data_set', { key: 'k', value: 'v' }), {
      authorization: `Bearer ${narrow}`,
      'mcp-session-id': own,
    });
    expect(JSON.stringify(refused.body)).toMatch(/FORBIDDEN/);
  });

  it('closes the sessions and GET streams of a revoked token, and no other token takes them over', async () => {
    const jti = `revoked-${Date.now()}`;
    const doomed = await token(undefined, 'alice', 600, jti);
    const bystander = await token();
    const session = await rawSession(serve.url, doomed);
    const other = await rawSession(serve.url, bystander);
    const stream = await openEventStream(serve.url, doomed, session);
    const otherStream = await openEventStream(serve.url, bystander, other);
    revoke(jti);
    // The stream ends without another request being made.
    await stream.ended;
    const again = await rawPost(serve.url, call(3, 'data_get', { key: 'k' }), {
      authorization: `Bearer ${bystander}`,
      'mcp-session-id': session,
    });
    expect(again.status).toBe(404);
    const revoked = await rawPost(serve.url, call(4, 'data_get', { key: 'k' }), {
      authorization: `Bearer ${doomed}`,
      'mcp-session-id': session,
    });
    expect(revoked.status).toBe(401);
    expect(JSON.stringify(revoked.body)).toMatch(/revoked/);
    // Another user's session and stream are untouched.
    const fine = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 5, method: 'tools/list' },
      {
        authorization: `Bearer ${bystander}`,
        'mcp-session-id': other,
      },
    );
    expect(fine.status).toBe(200);
    const settled = await Promise.race([otherStream.ended.then(() => 'ended'), 'open']);
    expect(settled).toBe('open');
    await otherStream.close();
  });

  it('closes a session when its token expires, without a request', async () => {
    const shortLived = await token(undefined, 'alice', 1);
    const session = await rawSession(serve.url, shortLived);
    const stream = await openEventStream(serve.url, shortLived, session);
    // exp (1 s) plus the verifier's clock tolerance (5 s), polled, never slept.
    await stream.ended;
    const later = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 6, method: 'tools/list' },
      {
        authorization: `Bearer ${shortLived}`,
        'mcp-session-id': session,
      },
    );
    expect(later.status).toBe(401);
    expect(JSON.stringify(later.body)).toMatch(/expired/);
  }, 15_000);

  it('stops honouring a status page cookie once its token is revoked', async () => {
    const jti = `page-${Date.now()}`;
    const admin = await token(['admin'], 'root', 600, jti);
    const base = serve.url.replace(/\/mcp$/, '');
    const traded = await fetch(`${base}/?token=${admin}`, { redirect: 'manual' });
    expect(traded.status).toBe(303);
    const cookie = (traded.headers.get('set-cookie') ?? '').split(';', 1)[0] as string;
    expect((await fetch(`${base}/status.json`, { headers: { cookie } })).status).toBe(200);
    revoke(jti);
    const after = await fetch(`${base}/status.json`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(await after.text()).toMatch(/revoked/);
  });

  it('answers a listen for a tenant whose child cannot start with an error, not an empty stream', async () => {
    const broken = await signToken(
      { secret: workspace.secret },
      { tenantId: 'broken', userId: 'alice', ttlSeconds: 600 },
    );
    const listen = { ...LISTEN, id: 1 };
    const response = await rawPost(serve.url, listen, {
      authorization: `Bearer ${broken}`,
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'subscriptions/listen',
    });
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(JSON.stringify(response.body)).toMatch(/exited during initialize|not found/);
    // The supervisor is still serving.
    expect(
      (await rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${await token()}` })).status,
    ).toBe(200);
  });
});

describe('serve --stdio re-checks its token', () => {
  let workspace: TestWorkspace;

  beforeAll(() => {
    workspace = createWorkspace({ acme: {}, broken: { command: '/nonexistent/server' } });
  });

  const open: RawStdio[] = [];
  afterEach(async () => {
    // Closed even when a test failed half-way.
    for (const stdio of open.splice(0)) expect((await stdio.close()).survivors).toEqual([]);
  });
  afterAll(() => workspace.cleanup());

  /** A raw, initialized stdio connection, closed after the test. */
  async function connect(bearer: string): Promise<RawStdio> {
    const stdio = await startRawStdio(workspace.manifestPath, bearer);
    open.push(stdio);
    return stdio;
  }

  const list = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/list' });

  it('refuses every request once the token has expired', async () => {
    const bearer = await signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: 'alice', ttlSeconds: 1 },
    );
    const stdio = await connect(bearer);
    stdio.send(list(2));
    expect((await stdio.answerTo(2)).result).toBeDefined();
    // Past exp plus the clock tolerance, asked again and again until refused.
    let id = 3;
    const refused = await waitFor(
      async () => {
        stdio.send(list(id));
        const answer = await stdio.answerTo(id++);
        return answer.error ? answer : undefined;
      },
      12_000,
      'the expired token to be refused',
    );
    expect((refused.error as { message?: string }).message).toMatch(
      /expired.*Set a new MCP_TENANT_TOKEN/,
    );
  }, 20_000);

  it('refuses requests from the moment the token is revoked', async () => {
    const jti = `stdio-${Date.now()}`;
    const bearer = await signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: 'alice', ttlSeconds: 600, jti },
    );
    const stdio = await connect(bearer);
    expect(runCli(['revoke', jti, '-m', workspace.manifestPath]).code).toBe(0);
    stdio.send(list(2));
    expect(((await stdio.answerTo(2)).error as { message?: string } | undefined)?.message).toMatch(
      /revoked/,
    );
  });

  it('answers a listen whose child cannot start with an error and keeps serving', async () => {
    const bearer = await signToken(
      { secret: workspace.secret },
      { tenantId: 'broken', userId: 'alice', ttlSeconds: 600 },
    );
    const stdio = await connect(bearer);
    stdio.send({ ...LISTEN, id: 7 });
    expect((await stdio.answerTo(7)).error).toBeDefined();
    stdio.send({ jsonrpc: '2.0', id: 8, method: 'ping' });
    await stdio.answerTo(8);
    expect(stdio.stderr()).not.toMatch(/unhandled rejection|uncaught exception/);
  });
});
