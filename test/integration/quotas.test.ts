import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { loadManifest } from '../../src/manifest/load.js';
import { connectHttp, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { waitGone } from '../helpers/processes.js';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** How an SDK call ended: its text, or its error message. */
function outcome(promise: Promise<unknown>): Promise<{ ok: boolean; text: string }> {
  return promise.then(
    (result) => ({ ok: true, text: textOf(result) }),
    (error: Error) => ({ ok: false, text: error.message }),
  );
}

const callBody = (id: number | string, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

describe('quotas through serve', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const clients: Client[] = [];

  const token = (tenant: string, user: string) =>
    signToken({ secret: workspace.secret }, { tenantId: tenant, userId: user, ttlSeconds: 600 });
  const client = async (tenant: string, user: string) => {
    const connected = await connectHttp(serve.url, await token(tenant, user));
    clients.push(connected);
    return connected;
  };

  beforeAll(async () => {
    workspace = createWorkspace({
      rated: { quotas: { max_requests_per_minute: 4, max_requests_per_minute_per_user: 3 } },
      small: { quotas: { max_storage_mb: 1 } },
      flood: {
        ...fixture('echo-server.mjs'),
        quotas: { max_requests_per_minute: 30, max_concurrent_requests: 2 },
      },
      quiet: {},
      queued: {
        ...fixture('echo-server.mjs'),
        quotas: { max_concurrent_requests: 1, max_queue: 1 },
      },
    });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    for (const connected of clients) await connected.close().catch(() => {});
    expect((await serve?.stop())?.survivors).toEqual([]);
    workspace?.cleanup();
  });

  it('refuses over the per-user and the per-tenant rate with 429, Retry-After and the JSON-RPC error', async () => {
    const aliceToken = await token('rated', 'alice');
    const alice = await rawSession(serve.url, aliceToken);
    const aliceHeaders = { authorization: `Bearer ${aliceToken}`, 'mcp-session-id': alice };
    const set = (id: number) => callBody(id, 'data_set', { key: `k${id}`, value: 'v' });
    for (let id = 1; id <= 3; id++) {
      expect((await rawPost(serve.url, set(id), aliceHeaders)).status).toBe(200);
    }
    const userRefusal = await rawPost(serve.url, set(4), aliceHeaders);
    expect(userRefusal.status).toBe(429);
    const retryAfter = Number(userRefusal.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(61);
    expect(userRefusal.body).toEqual({
      jsonrpc: '2.0',
      id: 4,
      error: {
        code: -30429,
        message: `rate limit exceeded: user alice may send 3 requests per minute to tenant rated (max_requests_per_minute_per_user); retry in ${retryAfter} s`,
        data: {
          code: 'QUOTA_EXCEEDED',
          quota: 'max_requests_per_minute_per_user',
          limit: 3,
          retry_after_seconds: retryAfter,
        },
      },
    });
    // ping is never refused by a quota.
    expect(
      (await rawPost(serve.url, { jsonrpc: '2.0', id: 5, method: 'ping' }, aliceHeaders)).status,
    ).toBe(200);

    // bob has his own 3, but the tenant only 4 in all: one left.
    const bob = await client('rated', 'bob');
    expect((await outcome(bob.callTool({ name: 'data_get', arguments: { key: 'k1' } }))).ok).toBe(
      true,
    );
    const refused = await outcome(bob.callTool({ name: 'data_get', arguments: { key: 'k1' } }));
    expect(refused).toMatchObject({ ok: false });
    // The SDK client reports the 429 with our JSON-RPC error, its body.
    expect(refused.text).toMatch(
      /^Streamable HTTP error: Error POSTing to endpoint: \{"jsonrpc":"2\.0","id":\d+,"error":\{"code":-30429/,
    );
    expect(refused.text).toMatch(
      /rate limit exceeded: tenant rated allows 4 requests per minute \(max_requests_per_minute\); retry in \d+ s/,
    );
  });

  it('refuses a write over max_storage_mb with nothing half-written', async () => {
    const carol = await client('small', 'carol');
    const value = 'x'.repeat(400 * 1024);
    const results = [];
    for (const key of ['a', 'b', 'c', 'd']) {
      results.push(await carol.callTool({ name: 'data_set', arguments: { key, value } }));
    }
    const refusedAt = results.findIndex((result) => result.isError === true);
    expect(refusedAt).toBeGreaterThan(0);
    expect(textOf(results[refusedAt])).toMatch(
      /^storage quota exceeded for tenant small: [\d.]+ MB used of 1 MB, and this write needs 0\.39 MB more\. Delete keys you no longer need \(data_delete\), or ask the operator to raise max_storage_mb\.$/,
    );
    const stored = ['a', 'b', 'c', 'd'].slice(0, refusedAt);
    const listed = await carol.callTool({ name: 'data_list', arguments: {} });
    expect((listed.structuredContent as { items: { key: string; bytes: number }[] }).items).toEqual(
      stored.map((key) => expect.objectContaining({ key, bytes: value.length })),
    );
    const missing = await carol.callTool({
      name: 'data_get',
      arguments: { key: ['a', 'b', 'c', 'd'][refusedAt] },
    });
    expect(missing.isError).toBe(true);
    // Deleting makes room again.
    await carol.callTool({ name: 'data_delete', arguments: { key: 'a' } });
    expect(
      (await carol.callTool({ name: 'data_set', arguments: { key: 'e', value } })).isError,
    ).toBeFalsy();
  });

  it('refuses requests beyond max_concurrent_requests at once, and a flooding tenant leaves the others whole', async () => {
    const flooder = await client('flood', 'mallory');
    // Three slow calls at once against 2 slots: exactly one is refused, at once.
    const held = await Promise.all(
      [1, 2, 3].map((n) =>
        outcome(flooder.callTool({ name: 'slow', arguments: { ms: 1_500, text: `${n}` } })),
      ),
    );
    const concurrencyRefusals = held.filter((result) => !result.ok);
    expect(concurrencyRefusals).toHaveLength(1);
    expect(concurrencyRefusals[0]?.text).toMatch(
      /too many requests in flight: tenant flood allows 2 at once \(max_concurrent_requests\)/,
    );

    const quiet = await client('quiet', 'quinn');
    const flood = Promise.all(
      Array.from({ length: 60 }, (_, n) =>
        outcome(flooder.callTool({ name: 'slow', arguments: { ms: 20, text: `${n}` } })),
      ),
    );
    const quietResults = [];
    for (let n = 0; n < 20; n++) {
      quietResults.push(
        await outcome(
          quiet.callTool({ name: 'data_set', arguments: { key: `q${n}`, value: 'v' } }),
        ),
      );
    }
    const flooded = await flood;
    expect(quietResults.every((result) => result.ok)).toBe(true);
    const refusals = flooded.filter((result) => !result.ok);
    // 30 a minute, 2 of which went on the held calls: at least 32 of the 60 refused.
    expect(refusals.length).toBeGreaterThanOrEqual(32);
    for (const refusal of refusals)
      expect(refusal.text).toMatch(/Error POSTing to endpoint: .*"code":-30429/);
  });

  it('takes a request the client cancels out of the queue, so the next one may wait there', async () => {
    const caller = await client('queued', 'quentin');
    const running = caller.callTool({ name: 'slow', arguments: { ms: 1_000, text: 'first' } });
    // Queued behind it on a raw session, then given up by its client. The
    // cancellation is repeated until the request is answered: one sent before
    // the request is queued finds nothing, so the answer proves it was queued.
    const bearer = await token('queued', 'quentin');
    const headers = { authorization: `Bearer ${bearer}`, 'mcp-protocol-version': '2025-11-25' };
    const session = await rawSession(serve.url, bearer);
    const onSession = { ...headers, 'mcp-session-id': session };
    const queued = rawPost(serve.url, callBody('b', 'echo', { text: 'never' }), onSession);
    let answered = false;
    void queued.finally(() => {
      answered = true;
    });
    while (!answered) {
      const cancel = {
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: 'b' },
      };
      expect((await rawPost(serve.url, cancel, onSession)).status).toBe(202);
      await Promise.race([queued, new Promise((resolve) => setTimeout(resolve, 20))]);
    }
    expect((await queued).body).toMatchObject({
      id: 'b',
      error: { code: -32800, message: 'cancelled while waiting for a slot' },
    });
    // The queue's one place is free again: this call waits instead of being refused.
    const next = await outcome(caller.callTool({ name: 'echo', arguments: { text: 'next' } }));
    expect(next).toEqual({ ok: true, text: 'next' });
    expect(textOf(await running)).toBe('first');
  });
});

describe('durable usage counters', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    workspace?.cleanup();
  });

  const callOnce = async (url: string, bearer: string) => {
    const session = await rawSession(url, bearer);
    return rawPost(url, callBody(1, 'data_list', {}), {
      authorization: `Bearer ${bearer}`,
      'mcp-session-id': session,
    });
  };

  it('keeps the daily tool-call count across a restart and a SIGKILL', async () => {
    workspace = createWorkspace({ daily: { quotas: { max_tool_calls_per_day: 3 } } });
    const bearer = await signToken(
      { secret: workspace.secret },
      { tenantId: 'daily', userId: 'ann', ttlSeconds: 600 },
    );
    serve = await startServe(workspace.manifestPath);
    for (let n = 0; n < 3; n++) expect((await callOnce(serve.url, bearer)).status).toBe(200);
    expect((await callOnce(serve.url, bearer)).status).toBe(429);
    expect((await serve.stop()).code).toBe(0);

    serve = await startServe(workspace.manifestPath);
    const afterRestart = await callOnce(serve.url, bearer);
    expect(afterRestart.status).toBe(429);
    expect(afterRestart.body).toMatchObject({
      error: {
        message: expect.stringMatching(
          /^daily quota exceeded: tenant daily allows 3 tool calls per day \(max_tool_calls_per_day, days start at 00:00 UTC\); retry in \d+ s$/,
        ),
        data: { quota: 'max_tool_calls_per_day', limit: 3 },
      },
    });

    // Raised on reload: applies to the next request, no restart.
    workspace.rewrite({ daily: { quotas: { max_tool_calls_per_day: 4 } } });
    serve.process.kill('SIGHUP');
    await expect
      .poll(async () => (await callOnce((serve as ServeProcess).url, bearer)).status, {
        timeout: 5_000,
      })
      .toBe(200);
    expect((await callOnce(serve.url, bearer)).status).toBe(429);

    const pids = serve.childPids();
    serve.process.kill('SIGKILL');
    await waitGone([serve.process.pid as number, ...pids]);
    serve = await startServe(workspace.manifestPath);
    expect((await callOnce(serve.url, bearer)).status).toBe(429);
  });

  it('shares one rate limit between two serve --stdio processes of the same tenant', async () => {
    workspace = createWorkspace({ shared: { quotas: { max_requests_per_minute: 5 } } });
    const bearer = await workspace.token('shared', 'ann');
    const hosts: { stdio: Client; pid: number }[] = [];
    // Each host is kept before it connects, so a failed start is closed too.
    const start = async () => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
        env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: bearer },
        stderr: 'pipe',
      });
      const stdio = new Client({ name: 'desktop-host', version: '1.0.0' });
      const host = { stdio, pid: 0 };
      hosts.push(host);
      await stdio.connect(transport);
      host.pid = transport.pid as number;
    };
    try {
      await start();
      await start();
      const results = [];
      for (let round = 0; round < 4; round++) {
        for (const host of hosts) {
          results.push(await outcome(host.stdio.callTool({ name: 'data_list', arguments: {} })));
        }
      }
      expect(results.filter((result) => result.ok)).toHaveLength(5);
      for (const refused of results.filter((result) => !result.ok)) {
        expect(refused.text).toMatch(
          /^MCP error -30429: rate limit exceeded: tenant shared allows 5 requests per minute/,
        );
      }
    } finally {
      for (const host of hosts) await host.stdio.close().catch(() => {});
      expect(await waitGone(hosts.map((host) => host.pid).filter((pid) => pid > 0))).toEqual([]);
    }
  });
});

describe('add-tenant', () => {
  it('add-tenant writes the new quota flags', () => {
    const workspace = createWorkspace({});
    try {
      const run = spawnSync(
        process.execPath,
        [
          CLI,
          'add-tenant',
          'shop',
          '-m',
          workspace.manifestPath,
          '--max-requests-per-minute-per-user',
          '60',
          '--max-tool-calls-per-day',
          '5000',
          '--max-tool-calls-per-month',
          '100000',
          '--max-queue',
          '8',
        ],
        { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
      );
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(loadManifest(workspace.manifestPath).tenants.get('shop')?.quotas).toMatchObject({
        max_requests_per_minute_per_user: 60,
        max_tool_calls_per_day: 5000,
        max_tool_calls_per_month: 100000,
        max_queue: 8,
      });
    } finally {
      workspace.cleanup();
    }
  });
});
