import { readFileSync, writeFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { deepCall, trailOf } from '../helpers/poison.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import { openEventStream } from '../helpers/raw-http.js';
import { startRawStdio } from '../helpers/raw-stdio.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const TOO_DEEP = 'JSON nested deeper than 64 levels (server.max_json_depth)';

/**
 * JSON nested 10 000 deep, from a client over HTTP or stdio and from a
 * child on stdout: refused at entry with an error naming the limit, and
 * nothing of it reaches the relay, a stream or the telemetry queue. The
 * calls after it, of every tenant, are still answered, audited and reported.
 */
describe('JSON nested too deep', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const clients: Client[] = [];
  const since = Date.now() - 60_000;
  let trail: ReturnType<typeof trailOf>;

  /** Waits until the audit trail holds a row of `user` for `target`, and returns the trail. */
  const audited = (user: string, target: string) =>
    waitFor(
      () => {
        const rows = trail.audit();
        return rows.some((row) => row.user === user && row.target === target) ? rows : undefined;
      },
      10_000,
      `the audit row of ${user} for ${target}`,
    );

  beforeAll(async () => {
    workspace = createWorkspace({
      acme: {},
      globex: {},
      deep: { ...fixture('deep-line.mjs'), request_timeout_ms: 5_000 },
    });
    const manifest = JSON.parse(readFileSync(workspace.manifestPath, 'utf8'));
    manifest.telemetry = { flush_interval_ms: 100 };
    writeFileSync(workspace.manifestPath, JSON.stringify(manifest, null, 2));
    trail = trailOf(workspace.manifestPath, since);
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    // Guarded: when beforeAll failed, its error is the one to see, and the folder still goes.
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  it('refuses a 10 000-deep HTTP body by name; the next calls of every tenant are audited and reported', async () => {
    const token = await workspace.token('acme', 'alice');
    const session = await rawSession(serve.url, token);
    const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': session };
    for (const [body, id] of [
      [deepCall('deep-1'), 'deep-1'],
      [deepCall(7, 10_000, true), 7],
    ] as const) {
      const answer = await rawPost(serve.url, body, headers);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        jsonrpc: '2.0',
        id,
        error: {
          code: -32600,
          message: TOO_DEEP,
          data: { code: 'JSON_TOO_DEEP', max_json_depth: 64 },
        },
      });
    }
    // A notification, or a text whose id cannot be read back, is answered with id null.
    const notification = await rawPost(
      serve.url,
      `{"jsonrpc":"2.0","method":"notifications/x","params":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      headers,
    );
    expect(notification.body).toMatchObject({ id: null, error: { message: TOO_DEEP } });

    const acme = await connectHttp(serve.url, token);
    const globex = await connectHttp(serve.url, await workspace.token('globex', 'bob'));
    clients.push(acme, globex);
    await acme.callTool({ name: 'data_set', arguments: { key: 'after-http', value: 'a' } });
    await globex.callTool({ name: 'data_set', arguments: { key: 'after-http', value: 'g' } });
    await audited('alice', 'data_set');
    await audited('bob', 'data_set');
    const report = trail.report();
    for (const tenant of ['acme', 'globex']) {
      const line = report.tenants.find((entry) => entry.tenant === tenant);
      expect(line?.requests).toBeGreaterThanOrEqual(1);
      expect(line?.request_bytes).toBeGreaterThan(0);
    }
    expect(trail.verified()).toBe(true);
  });

  it('refuses a 10 000-deep stdio line by name; the next call is audited, and shutdown writes it', async () => {
    const stdio = await startRawStdio(
      workspace.manifestPath,
      await workspace.token('acme', 'stella'),
    );
    try {
      stdio.send(deepCall('deep-stdio'));
      expect(await stdio.answerTo('deep-stdio')).toEqual({
        jsonrpc: '2.0',
        id: 'deep-stdio',
        error: {
          code: -32600,
          message: TOO_DEEP,
          data: { code: 'JSON_TOO_DEEP', max_json_depth: 64 },
        },
      });
      stdio.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'data_set', arguments: { key: 'after-stdio', value: 's' } },
      });
      const stored = await stdio.answerTo(2);
      expect(stored).toHaveProperty('result');
      expect(stored).not.toHaveProperty('error');
    } finally {
      expect(await stdio.close()).toEqual({ code: 0, survivors: [] });
    }
    // Written at shutdown, not left in memory.
    const rows = trail.audit('--user', 'stella');
    expect(rows.map((row) => [row.action, row.target, row.outcome])).toEqual([
      ['tools/call', 'data_set', 'ok'],
    ]);
    expect(trail.verified()).toBe(true);
  });

  it('drops a child’s 10 000-deep lines while a GET stream is open; the supervisor and every tenant carry on', async () => {
    const token = await workspace.token('deep', 'dora');
    const session = await rawSession(serve.url, token);
    const stream = await openEventStream(serve.url, token, session);
    let id = 0;
    const call = async (name: string, args: Record<string, unknown> = {}) => {
      id += 1;
      const answer = await rawPost(
        serve.url,
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
        { authorization: `Bearer ${token}`, 'mcp-session-id': session, accept: 'application/json' },
      );
      return answer.body as {
        id: number;
        result?: unknown;
        error?: { code: number; message: string };
      };
    };
    try {
      // A deep notification to every session, then a plain one: only the plain one arrives.
      expect(textOf((await call('deep_log')).result)).toBe('logged');
      await waitFor(
        () => stream.text().includes('after deep') || undefined,
        5_000,
        'the plain notification',
      );
      expect(stream.text()).not.toContain('{"a":{"a":');
      // A deep answer: the request gets an error naming the limit at once, not a timeout.
      const started = Date.now();
      const refused = await call('deep_result');
      expect(refused.error?.code).toBe(-32603);
      expect(refused.error?.message).toContain(TOO_DEEP);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(textOf((await call('echo', { text: 'still here' })).result)).toBe('still here');
    } finally {
      await stream.close();
    }
    const acme = await connectHttp(serve.url, await workspace.token('acme', 'ann'));
    clients.push(acme);
    await acme.callTool({ name: 'data_set', arguments: { key: 'after-child', value: 'x' } });
    expect(isAlive(serve.process.pid as number)).toBe(true);
    expect(serve.stderr()).toMatch(/beyond the JSON bounds/);
    await audited('ann', 'data_set');
    const rows = await audited('dora', 'echo');
    expect(
      rows.filter((row) => row.user === 'dora').map((row) => [row.target, row.outcome]),
    ).toEqual([
      ['deep_log', 'ok'],
      ['deep_result', 'rpc_error'],
      ['echo', 'ok'],
    ]);
  });
});
