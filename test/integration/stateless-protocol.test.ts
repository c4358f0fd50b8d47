import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPost, statelessPost } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  adminStatus,
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const STATELESS = '2026-07-28';

/** A 2.x SDK client pinned to the stateless revision: no fallback to initialize. */
function statelessClient(): Client {
  return new Client(
    { name: 'stateless-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: STATELESS } } },
  );
}

function firstText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content[0]?.text ?? '';
}

describe('MCP 2026-07-28 (stateless) clients through a 2025-era child', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;

  beforeAll(async () => {
    workspace = createWorkspace({
      acme: {},
      features: fixture('features-server.mjs'),
      echo: fixture('echo-server.mjs'),
    });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  async function connect(tenant: string, user = 'alice'): Promise<Client> {
    const client = statelessClient();
    await client.connect(
      new StreamableHTTPClientTransport(new URL(serve.url), {
        requestInit: {
          headers: { Authorization: `Bearer ${await workspace.token(tenant, user)}` },
        },
      }),
    );
    return client;
  }

  it('serves tools, resources and prompts of the built-in child over HTTP', async () => {
    const client = await connect('acme');
    try {
      expect(client.getServerVersion()?.name).toBe('mcp-tenants-child');
      const tools = await client.listTools();
      expect(tools.tools.map((tool) => tool.name).sort()).toEqual([
        'data_delete',
        'data_get',
        'data_list',
        'data_set',
      ]);
      await client.callTool({ name: 'data_set', arguments: { key: 'stateless', value: 'yes' } });
      expect(
        firstText(await client.callTool({ name: 'data_get', arguments: { key: 'stateless' } })),
      ).toBe('yes');
      const resources = await client.listResources();
      expect(resources.resources.map((resource) => resource.uri)).toContain(
        'tenant://acme/data/stateless',
      );
      const read = await client.readResource({ uri: 'tenant://acme/data/stateless' });
      expect(read.contents[0]).toMatchObject({ text: 'yes' });
      const prompt = await client.getPrompt({ name: 'summarize_data', arguments: {} });
      expect(JSON.stringify(prompt.messages)).toContain('stateless');
    } finally {
      await client.close();
    }
  });

  it('streams progress of a request on its own response', async () => {
    const client = await connect('echo');
    try {
      const progress: unknown[] = [];
      const result = await client.callTool(
        { name: 'slow', arguments: { ms: 10, text: 'p' } },
        {
          onprogress: (event) => progress.push(event),
        },
      );
      expect(firstText(result)).toBe('p');
      expect(progress).toEqual([{ progress: 1, total: 2, message: 'p' }]);
    } finally {
      await client.close();
    }
  });

  it('delivers opted-in list changes on a subscriptions/listen stream', async () => {
    const listener = await connect('features', 'ann');
    const actor = await connect('features', 'bob');
    try {
      let changes = 0;
      listener.setNotificationHandler('notifications/tools/list_changed', () => {
        changes += 1;
      });
      const subscription = await listener.listen({ toolsListChanged: true });
      expect(subscription.honoredFilter).toMatchObject({ toolsListChanged: true });
      await actor.callTool({ name: 'add_tool', arguments: { name: 'brand_new' } });
      await waitFor(() => changes === 1 || undefined, 5_000, 'tools/list_changed');
      await subscription.close();
    } finally {
      await Promise.all([listener.close(), actor.close()]);
    }
  });

  it('sends request-scoped logs only when the request asked for a level', async () => {
    const client = await connect('features', 'logger');
    try {
      const logs: unknown[] = [];
      client.setNotificationHandler('notifications/message', (notification) => {
        logs.push(notification.params.data);
      });
      await client.callTool({ name: 'log_mine', arguments: { level: 'info', text: 'unasked' } });
      await client.callTool({
        name: 'log_mine',
        arguments: { level: 'info', text: 'asked' },
        _meta: { 'io.modelcontextprotocol/logLevel': 'debug' },
      });
      expect(logs).toEqual(['asked']);
    } finally {
      await client.close();
    }
  });

  it('delivers resource updates for the URIs a listen stream subscribed to', async () => {
    const listener = await connect('features', 'watcher');
    const actor = await connect('features', 'toucher');
    try {
      const updates: string[] = [];
      listener.setNotificationHandler('notifications/resources/updated', (notification) => {
        updates.push(notification.params.uri);
      });
      const subscription = await listener.listen({ resourceSubscriptions: ['feature://item/42'] });
      await actor.callTool({ name: 'touch', arguments: { uri: 'feature://item/41' } });
      await actor.callTool({ name: 'touch', arguments: { uri: 'feature://item/42' } });
      await waitFor(() => updates.length > 0 || undefined, 5_000, 'resources/updated');
      expect(updates).toEqual(['feature://item/42']);
      await subscription.close();
    } finally {
      await Promise.all([listener.close(), actor.close()]);
    }
  });

  it('cancels the request in the child when the client closes its stream', async () => {
    const client = await connect('features', 'canceller');
    try {
      const stats = async () =>
        JSON.parse(firstText(await client.callTool({ name: 'stats', arguments: {} })));
      const before = (await stats()).aborted;
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'wait', arguments: { ms: 10_000 } },
        { signal: controller.signal },
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort();
      await expect(call).rejects.toThrow();
      await waitFor(
        async () => (await stats()).aborted === before + 1 || undefined,
        5_000,
        'abort',
      );
    } finally {
      await client.close();
    }
  });

  it('validates _meta, the version header and removed methods as 2026-07-28 says', async () => {
    const token = await workspace.token('acme');
    const meta = {
      'io.modelcontextprotocol/protocolVersion': STATELESS,
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const headers = (method: string) => ({
      authorization: `Bearer ${token}`,
      'mcp-protocol-version': STATELESS,
      'mcp-method': method,
    });
    // Raw on purpose: these requests lack what statelessPost would add.
    const send = (method: string, params: Record<string, unknown>, extra = {}) =>
      rawPost(
        serve.url,
        { jsonrpc: '2.0', id: 7, method, params },
        { ...headers(method), ...extra },
      );

    for (const params of [
      {},
      { _meta: { 'io.modelcontextprotocol/protocolVersion': STATELESS } },
      { _meta: { 'io.modelcontextprotocol/clientCapabilities': {} } },
    ]) {
      const refused = await send('server/discover', params);
      expect(refused.status, JSON.stringify(params)).toBe(400);
      expect(refused.body).toMatchObject({
        id: 7,
        error: { code: -32602, message: expect.stringContaining('missing _meta keys') },
      });
    }
    const listed = await send('tools/list', {});
    expect(listed.status).toBe(400);
    expect(listed.body).toMatchObject({ error: { code: -32602 } });

    const noHeader = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 8, method: 'server/discover', params: { _meta: meta } },
      { authorization: `Bearer ${token}`, 'mcp-method': 'server/discover' },
    );
    expect(noHeader.status).toBe(400);
    expect(noHeader.body).toMatchObject({ id: 8, error: { code: -32020 } });

    const otherBody = await send('tools/list', {
      _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' },
    });
    expect(otherBody.status).toBe(400);
    expect(otherBody.body).toMatchObject({ error: { code: -32020 } });

    for (const method of [
      'initialize',
      'ping',
      'logging/setLevel',
      'resources/subscribe',
      'resources/unsubscribe',
    ]) {
      const removed = await send(method, {
        _meta: meta,
        uri: 'tenant://acme/data/x',
        level: 'info',
      });
      expect(removed.status, method).toBe(404);
      expect(removed.body).toMatchObject({ id: 7, error: { code: -32601 } });
    }
  });

  it('refuses mismatched headers and unsupported versions with the revision’s errors', async () => {
    const token = await workspace.token('acme');
    const meta = {
      'io.modelcontextprotocol/protocolVersion': STATELESS,
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const call = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'data_list', arguments: {}, _meta: meta },
    };
    const headers = {
      authorization: `Bearer ${token}`,
      'mcp-protocol-version': STATELESS,
      'mcp-method': 'tools/call',
      'mcp-name': 'data_list',
    };
    const ok = await rawPost(serve.url, call, headers);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ id: 1, result: { resultType: 'complete' } });

    const wrongName = await rawPost(serve.url, call, { ...headers, 'mcp-name': 'data_get' });
    expect(wrongName.status).toBe(400);
    expect(wrongName.body).toMatchObject({ id: 1, error: { code: -32020 } });

    const encodedName = await rawPost(serve.url, call, {
      ...headers,
      'mcp-name': `=?base64?${Buffer.from('data_list').toString('base64')}?=`,
    });
    expect(encodedName.status).toBe(200);

    const old = {
      ...call,
      params: {
        ...call.params,
        _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '1900-01-01' },
      },
    };
    const unsupported = await rawPost(serve.url, old, {
      ...headers,
      'mcp-protocol-version': '1900-01-01',
    });
    expect(unsupported.status).toBe(400);
    expect(unsupported.body).toMatchObject({
      error: {
        code: -32022,
        data: {
          requested: '1900-01-01',
          supported: expect.arrayContaining([STATELESS, '2025-11-25']),
        },
      },
    });

    const discover = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: 2, method: 'server/discover', params: { _meta: meta } },
      { ...headers, 'mcp-method': 'server/discover' },
    );
    expect(discover.body).toMatchObject({
      result: {
        supportedVersions: expect.arrayContaining([STATELESS]),
        capabilities: { tools: {} },
      },
    });
  });

  it('lets a session client and a stateless client share one tenant child', async () => {
    const stateless = await connect('echo', 'stateless-user');
    const { Client: SdkV1Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport: SdkV1Transport } = await import(
      '@modelcontextprotocol/sdk/client/streamableHttp.js'
    );
    const sessionClient = new SdkV1Client({ name: 'sessionClient', version: '1' });
    await sessionClient.connect(
      new SdkV1Transport(new URL(serve.url), {
        requestInit: {
          headers: { Authorization: `Bearer ${await workspace.token('echo', 'old-user')}` },
        },
      }),
    );
    try {
      const [a, b] = await Promise.all([
        stateless.callTool({ name: 'pid', arguments: {} }),
        sessionClient.callTool({ name: 'pid', arguments: {} }),
      ]);
      expect(firstText(a)).toBe(firstText(b));
    } finally {
      await Promise.all([stateless.close(), sessionClient.close()]);
    }
  });
});

describe('a child on the 2.x SDK (2026-07-28 era) behind either kind of client', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;

  beforeAll(async () => {
    workspace = createWorkspace({ stateless: fixture('stateless-server.mjs') });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  it('serves tools, resources and prompts to a 2025-era SDK client', async () => {
    const { connectHttp } = await import('../helpers/mcp-client.js');
    const sessionClient = await connectHttp(serve.url, await workspace.token('stateless'));
    try {
      expect(
        firstText(await sessionClient.callTool({ name: 'echo', arguments: { text: 'old' } })),
      ).toBe('old');
      const read = await sessionClient.readResource({ uri: 'stateless://hello' });
      expect(read.contents[0]).toMatchObject({ text: 'hello from a 2.x server' });
      const prompt = await sessionClient.getPrompt({ name: 'greet' });
      expect(JSON.stringify(prompt.messages)).toContain('greetings');
      // That child logs only for requests that ask: the session's level goes with each.
      const logs: unknown[] = [];
      const { LoggingMessageNotificationSchema } = await import(
        '@modelcontextprotocol/sdk/types.js'
      );
      sessionClient.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
        logs.push(notification.params.data);
      });
      expect(firstText(await sessionClient.callTool({ name: 'log', arguments: {} }))).toBe(
        'logged',
      );
      await waitFor(() => logs.length > 0 || undefined, 5_000, 'the child log');
      expect(logs).toEqual(['from the 2.x child']);
    } finally {
      await sessionClient.close();
    }
  });

  it('serves the same child to a 2026-07-28 client', async () => {
    const client = statelessClient();
    await client.connect(
      new StreamableHTTPClientTransport(new URL(serve.url), {
        requestInit: { headers: { Authorization: `Bearer ${await workspace.token('stateless')}` } },
      }),
    );
    try {
      expect(client.getServerVersion()?.name).toBe('stateless-fixture');
      expect(firstText(await client.callTool({ name: 'echo', arguments: { text: 'new' } }))).toBe(
        'new',
      );
      const uris = (await client.listResources()).resources.map((resource) => resource.uri);
      expect(uris.sort()).toEqual(['stateless://hello', 'stateless://needs-sampling']);
      expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['greet']);
    } finally {
      await client.close();
    }
  });

  it('speaks 2026-07-28 to the child, and keeps a listen stream open through it', async () => {
    const token = await workspace.token('stateless');
    const connect = async () => {
      const client = statelessClient();
      await client.connect(
        new StreamableHTTPClientTransport(new URL(serve.url), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      return client;
    };
    const [listener, actor] = [await connect(), await connect()];
    try {
      let changes = 0;
      listener.setNotificationHandler('notifications/tools/list_changed', () => {
        changes += 1;
      });
      const subscription = await listener.listen({ toolsListChanged: true });
      await actor.callTool({ name: 'add_tool', arguments: { name: 'fresh' } });
      await waitFor(() => changes >= 1 || undefined, 5_000, 'tools/list_changed from the child');
      await subscription.close();
      const status = await adminStatus(serve.url, workspace);
      expect(status.tenants.find((tenant) => tenant.id === 'stateless')?.state).toBe('running');
    } finally {
      await Promise.all([listener.close(), actor.close()]);
    }
  });

  it("bridges the child's own input_required for both kinds of client", async () => {
    const token = await workspace.token('stateless');
    const { ElicitRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
    const { Client: SdkV1Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport: SdkV1Transport } = await import(
      '@modelcontextprotocol/sdk/client/streamableHttp.js'
    );
    // A 2025 session client: asked with a real elicitation on its session.
    const sessionClient = new SdkV1Client(
      { name: 'asked', version: '1' },
      { capabilities: { elicitation: {} } },
    );
    sessionClient.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { name: 'Ada' },
    }));
    await sessionClient.connect(
      new SdkV1Transport(new URL(serve.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    // A 2026-07-28 client: gets the round and answers it itself.
    const stateless = new Client(
      { name: 'stateless-asked', version: '1' },
      { versionNegotiation: { mode: { pin: STATELESS } }, capabilities: { elicitation: {} } },
    );
    stateless.setRequestHandler('elicitation/create', async () => ({
      action: 'accept',
      content: { name: 'Bea' },
    }));
    await stateless.connect(
      new StreamableHTTPClientTransport(new URL(serve.url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    try {
      expect(firstText(await sessionClient.callTool({ name: 'greet_me', arguments: {} }))).toBe(
        'hi Ada',
      );
      expect(firstText(await stateless.callTool({ name: 'greet_me', arguments: {} }))).toBe(
        'hi Bea',
      );
    } finally {
      await Promise.all([sessionClient.close(), stateless.close()]);
    }
  });

  it("answers a child's -32021 (a capability the client lacks) with HTTP 400", async () => {
    const answer = await statelessPost(serve.url, {
      token: await workspace.token('stateless'),
      method: 'resources/read',
      params: { uri: 'stateless://needs-sampling' },
      id: 3,
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ id: 3, error: { code: -32021 } });
  });
});

describe('MCP 2026-07-28 over stdio', () => {
  it('serves a pinned stateless client on serve --stdio', async () => {
    const workspace = createWorkspace({ acme: {} });
    const client = statelessClient();
    try {
      await client.connect(
        new StdioClientTransport({
          command: process.execPath,
          args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
          env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: await workspace.token('acme') },
        }),
      );
      expect((await client.listTools()).tools).toHaveLength(4);
      await client.callTool({ name: 'data_set', arguments: { key: 'k', value: 'v' } });
      expect(firstText(await client.callTool({ name: 'data_get', arguments: { key: 'k' } }))).toBe(
        'v',
      );
    } finally {
      await client.close();
      workspace.cleanup();
    }
  });
});
