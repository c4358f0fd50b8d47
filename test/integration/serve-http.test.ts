import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { waitGone } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

describe('serve over Streamable HTTP', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const clients: Client[] = [];

  beforeAll(async () => {
    workspace = createWorkspace({
      acme: {},
      globex: {},
      echo: { ...fixture('echo-server.mjs'), request_timeout_ms: 5_000 },
    });
    serve = await startServe(workspace.manifestPath);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    const { code, survivors } = await serve.stop();
    expect(code).toBe(0);
    expect(survivors).toEqual([]);
    workspace.cleanup();
  });

  async function client(tenant: string, user = 'alice'): Promise<Client> {
    const connected = await connectHttp(serve.url, await workspace.token(tenant, user));
    clients.push(connected);
    return connected;
  }

  it('lists and calls the built-in tools, resources and prompts of the tenant', async () => {
    const acme = await client('acme');
    expect(acme.getServerVersion()?.name).toBe('mcp-tenants-child');
    const tools = await acme.listTools();
    expect(tools.tools.map((tool) => tool.name).sort()).toEqual([
      'data_delete',
      'data_get',
      'data_list',
      'data_set',
    ]);
    const stored = await acme.callTool({ name: 'data_set', arguments: { key: 'k1', value: 'v1' } });
    expect(stored.isError).toBeFalsy();
    const read = await acme.callTool({ name: 'data_get', arguments: { key: 'k1' } });
    expect(textOf(read)).toBe('v1');

    const resources = await acme.listResources();
    const uri = resources.resources.find((resource) => resource.uri.endsWith('/k1'))?.uri;
    expect(uri).toBe('tenant://acme/data/k1');
    const contents = await acme.readResource({ uri: uri as string });
    expect(contents.contents[0]).toMatchObject({ text: 'v1' });

    const prompts = await acme.listPrompts();
    expect(prompts.prompts.map((prompt) => prompt.name)).toContain('summarize_data');
    const prompt = await acme.getPrompt({ name: 'summarize_data', arguments: {} });
    expect(JSON.stringify(prompt.messages)).toContain('k1');
  });

  it("keeps one tenant's data invisible to another", async () => {
    const acme = await client('acme');
    const globex = await client('globex');
    await acme.callTool({
      name: 'data_set',
      arguments: { key: 'secret-plan', value: 'acme only' },
    });
    const miss = await globex.callTool({ name: 'data_get', arguments: { key: 'secret-plan' } });
    expect(miss.isError).toBe(true);
    const listed = await globex.callTool({ name: 'data_list', arguments: {} });
    expect(textOf(listed)).not.toContain('secret-plan');
    const uris = (await globex.listResources()).resources.map((resource) => resource.uri);
    expect(uris.every((uri) => uri.startsWith('tenant://globex/'))).toBe(true);
  });

  it('runs each tenant in its own child process', async () => {
    const acme = await client('echo');
    const again = await client('echo', 'bob');
    const first = textOf(await acme.callTool({ name: 'pid', arguments: {} }));
    const second = textOf(await again.callTool({ name: 'pid', arguments: {} }));
    expect(first).toBe(second);
    expect(serve.childPids()).toContain(Number(first));
  });

  it('gives concurrent sessions with colliding ids their own answers', async () => {
    const token = await workspace.token('echo');
    const sessions = await Promise.all([0, 1, 2].map(() => rawSession(serve.url, token)));
    const answers = await Promise.all(
      sessions.map((session, index) =>
        rawPost(
          serve.url,
          {
            jsonrpc: '2.0',
            id: 1,
            method: 'tools/call',
            params: { name: 'slow', arguments: { ms: 50 * (3 - index), text: `session-${index}` } },
          },
          { authorization: `Bearer ${token}`, 'mcp-session-id': session },
        ),
      ),
    );
    answers.forEach((answer, index) => {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        id: 1,
        result: { content: [{ type: 'text', text: `session-${index}` }] },
      });
    });
  });

  it('streams progress to the session that asked, then the result', async () => {
    const echo = await client('echo');
    const progress: unknown[] = [];
    const result = await echo.callTool(
      { name: 'slow', arguments: { ms: 10, text: 'p' } },
      undefined,
      {
        onprogress: (event) => progress.push(event),
      },
    );
    expect(textOf(result)).toBe('p');
    expect(progress).toEqual([{ progress: 1, total: 2, message: 'p' }]);
  });

  it('fails a call whose child is killed, and serves the next call from a new child', async () => {
    const echo = await client('echo');
    const pid = Number(textOf(await echo.callTool({ name: 'pid', arguments: {} })));
    const pending = echo.callTool({ name: 'slow', arguments: { ms: 10_000, text: 'never' } });
    // Give the request time to reach the child before killing it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(pid, 'SIGKILL');
    await expect(pending).rejects.toThrow(/stopped while handling this request/);
    expect(await waitGone([pid])).toEqual([]);
    const next = Number(textOf(await echo.callTool({ name: 'pid', arguments: {} })));
    expect(next).not.toBe(pid);
  });

  describe('refusals', () => {
    it('answers 401 with WWW-Authenticate for a missing or bad token', async () => {
      const missing = await rawPost(serve.url, INITIALIZE);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(
        /^Bearer .*resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
      );
      const bad = await rawPost(serve.url, INITIALIZE, { authorization: 'Bearer not.a.jwt' });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    });

    it('answers 403 for a tenant that is not in the manifest, and for an operator token', async () => {
      const stranger = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.token('initrode')}`,
      });
      expect(stranger.status).toBe(403);
      expect(JSON.stringify(stranger.body)).toMatch(/not in the manifest/);
      const operator = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.operatorToken()}`,
      });
      expect(operator.status).toBe(403);
    });

    it("answers 404 when a session is used with another tenant's, user's or token's credentials", async () => {
      const opener = await workspace.token('acme', 'alice');
      const session = await rawSession(serve.url, opener);
      const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
      for (const token of [
        await workspace.token('globex', 'alice'),
        await workspace.token('acme', 'mallory'),
      ]) {
        const response = await rawPost(serve.url, list, {
          authorization: `Bearer ${token}`,
          'mcp-session-id': session,
        });
        expect(response.status).toBe(404);
      }
      // The same user's other token gets a session of its own, and is told so.
      const other = await rawPost(serve.url, list, {
        authorization: `Bearer ${await workspace.token('acme', 'alice')}`,
        'mcp-session-id': session,
      });
      expect(other.status).toBe(404);
      expect(JSON.stringify(other.body)).toMatch(/opened with another token/);
      const own = await rawPost(serve.url, list, {
        authorization: `Bearer ${opener}`,
        'mcp-session-id': session,
      });
      expect(own.status).toBe(200);
    });

    it('refuses batches, malformed JSON, oversized bodies and foreign origins', async () => {
      const auth = { authorization: `Bearer ${await workspace.token('acme')}` };
      const batch = await rawPost(serve.url, [INITIALIZE], auth);
      expect(batch.status).toBe(400);
      expect(JSON.stringify(batch.body)).toMatch(/batches are not supported/);
      const malformed = await rawPost(serve.url, '{"jsonrpc": "2.0",', auth);
      expect(malformed.status).toBe(400);
      expect(malformed.body).toMatchObject({ error: { code: -32700 } });
      const huge = await rawPost(serve.url, `"${'x'.repeat(5 * 1024 * 1024)}"`, auth);
      expect(huge.status).toBe(413);
      expect(JSON.stringify(huge.body)).toMatch(/larger than 4194304 bytes/);
      const chunks = (async function* () {
        for (let i = 0; i < 5; i += 1) yield new TextEncoder().encode('x'.repeat(1024 * 1024));
      })();
      const chunked = await fetch(serve.url, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
        body: ReadableStream.from(chunks),
        duplex: 'half',
      } as RequestInit);
      expect(chunked.status).toBe(413);
      const foreign = await rawPost(serve.url, INITIALIZE, {
        ...auth,
        origin: 'https://evil.example',
      });
      expect(foreign.status).toBe(403);
    });

    it('ends a session on DELETE; later requests get 404', async () => {
      const token = await workspace.token('acme');
      const session = await rawSession(serve.url, token);
      const deleted = await fetch(serve.url, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session },
      });
      expect(deleted.status).toBe(200);
      const after = await rawPost(
        serve.url,
        { jsonrpc: '2.0', id: 3, method: 'tools/list' },
        { authorization: `Bearer ${token}`, 'mcp-session-id': session },
      );
      expect(after.status).toBe(404);
    });
  });

  it('answers /healthz with liveness only, /admin/tenants for an operator, and the protected-resource metadata', async () => {
    // Anyone who reaches the port, under any Host, learns nothing about tenants.
    const health = await fetch(serve.url.replace('/mcp', '/healthz'), {
      headers: { host: 'attacker.example' },
    });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const anonymous = await fetch(serve.url.replace('/mcp', '/admin/tenants'));
    expect(anonymous.status).toBe(401);
    const body = await adminStatus(serve.url, workspace);
    expect(body.tenants.map((tenant) => tenant.id).sort()).toEqual(['acme', 'echo', 'globex']);
    expect(body.tenants.find((tenant) => tenant.id === 'echo')?.state).toBe('running');
    const metadata = await fetch(
      serve.url.replace('/mcp', '/.well-known/oauth-protected-resource/mcp'),
    );
    expect(await metadata.json()).toMatchObject({
      resource: serve.url,
      bearer_methods_supported: ['header'],
    });
  });
});
