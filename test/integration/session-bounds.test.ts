import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { INITIALIZE, type RawResponse, rawPost, rawSession } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import { rssBytes, stalledStream } from '../helpers/raw-http.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const MiB = 1024 * 1024;

interface RpcError {
  id?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

function initialize(serve: ServeProcess, token: string): Promise<RawResponse> {
  return rawPost(serve.url, INITIALIZE, { authorization: `Bearer ${token}` });
}

function deleteSession(serve: ServeProcess, token: string, session: string): Promise<Response> {
  return fetch(serve.url, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session },
  });
}

/** Opens `count` sessions, `batch` at a time; returns their ids. */
async function openSessions(serve: ServeProcess, token: string, count: number, batch = 20) {
  const ids: string[] = [];
  while (ids.length < count) {
    const size = Math.min(batch, count - ids.length);
    ids.push(
      ...(await Promise.all(Array.from({ length: size }, () => rawSession(serve.url, token)))),
    );
  }
  return ids;
}

function expectTooMany(response: RawResponse, quota: string, why: string, limit: number): void {
  expect(response.status).toBe(429);
  expect(response.headers.get('mcp-session-id')).toBeNull();
  const body = response.body as RpcError;
  expect(body.id).toBe(INITIALIZE.id);
  expect(body.error?.code).toBe(-30429);
  expect(body.error?.data).toMatchObject({ code: 'QUOTA_EXCEEDED', quota, limit });
  expect(body.error?.message).toBe(
    `too many open sessions: ${why} (${quota}: ${limit}); close idle sessions ` +
      `(DELETE /mcp with their Mcp-Session-Id) or raise ${quota} (under server:, or the tenant's quotas:)`,
  );
}

describe('open sessions per user and per tenant', () => {
  it('refuses the 101st session of one user (the default), and no one else', async () => {
    const workspace = createWorkspace({
      a: fixture('echo-server.mjs'),
      b: fixture('echo-server.mjs'),
    });
    const serve = await startServe(workspace.manifestPath);
    try {
      const alice = await workspace.token('a', 'alice');
      const ids = await openSessions(serve, alice, 100);
      expectTooMany(
        await initialize(serve, alice),
        'max_sessions_per_user',
        'user alice already has 100 open sessions with tenant a',
        100,
      );
      // Another user of the tenant, and the same user at another tenant, are not affected.
      expect((await initialize(serve, await workspace.token('a', 'bob'))).status).toBe(200);
      expect((await initialize(serve, await workspace.token('b', 'alice'))).status).toBe(200);
      // Closing one makes room for one.
      expect((await deleteSession(serve, alice, ids[0] ?? '')).status).toBe(200);
      expect((await initialize(serve, alice)).status).toBe(200);
      expect((await initialize(serve, alice)).status).toBe(429);
    } finally {
      expect((await serve.stop()).survivors).toEqual([]);
      workspace.cleanup();
    }
  }, 60_000);

  it('applies server.max_sessions_per_*, a tenant’s own quotas, and holds against a burst', async () => {
    const workspace = createWorkspace(
      {
        a: fixture('echo-server.mjs'),
        b: { ...fixture('echo-server.mjs'), quotas: { max_sessions_per_user: 1 } },
        c: fixture('echo-server.mjs'),
      },
      { max_sessions_per_user: 3, max_sessions_per_tenant: 4 },
    );
    const serve = await startServe(workspace.manifestPath);
    try {
      const alice = await workspace.token('a', 'alice');
      await openSessions(serve, alice, 3);
      expectTooMany(
        await initialize(serve, alice),
        'max_sessions_per_user',
        'user alice already has 3 open sessions with tenant a',
        3,
      );
      expect((await initialize(serve, await workspace.token('a', 'bob'))).status).toBe(200);
      expectTooMany(
        await initialize(serve, await workspace.token('a', 'carol')),
        'max_sessions_per_tenant',
        'tenant a already has 4 open sessions',
        4,
      );
      const aliceAtB = await workspace.token('b', 'alice');
      expect((await initialize(serve, aliceAtB)).status).toBe(200);
      expectTooMany(
        await initialize(serve, aliceAtB),
        'max_sessions_per_user',
        'user alice already has 1 open sessions with tenant b',
        1,
      );
      // Sent together, initializes cannot all slip past the limit.
      const dave = await workspace.token('c', 'dave');
      const burst = await Promise.all(Array.from({ length: 10 }, () => initialize(serve, dave)));
      const statuses = burst.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    } finally {
      expect((await serve.stop()).survivors).toEqual([]);
      workspace.cleanup();
    }
  }, 60_000);
});

/** Status of a GET /mcp event stream for `session`; the stream is closed right after. */
function streamStatus(url: string, token: string, session: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      {
        method: 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'text/event-stream',
          'mcp-session-id': session,
        },
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        request.destroy();
      },
    );
    request.on('error', reject);
    request.end();
  });
}

describe('unread bytes of slow readers, over all streams together', () => {
  it('closes never-read GET streams past server.max_unread_bytes, and memory comes back', async () => {
    const workspace: TestWorkspace = createWorkspace(
      { flood: fixture('flood-notifications.mjs') },
      { max_unread_bytes: MiB },
    );
    const serve = await startServe(workspace.manifestPath);
    const port = Number(new URL(serve.url).port);
    const readers: { close(): void }[] = [];
    try {
      const token = await workspace.token('flood', 'reader');
      const ids = await openSessions(serve, token, 30);
      for (const id of ids) {
        const stream = await stalledStream(
          port,
          `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
            `Accept: text/event-stream\r\nMcp-Session-Id: ${id}\r\n\r\n`,
        );
        readers.push(stream);
        expect(stream.status).toBe(200);
      }
      const driver = await workspace.token('flood', 'driver');
      const driverSession = await rawSession(serve.url, driver);
      const pid = serve.process.pid as number;
      const before = rssBytes(pid);

      // 12 MB of log lines for every stream: far past what the sockets hold, and the per-stream cap.
      const flood = await rawPost(
        serve.url,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'flood', arguments: { count: 1_200, bytes: 10_000 } },
        },
        {
          authorization: `Bearer ${driver}`,
          accept: 'application/json',
          'mcp-session-id': driverSession,
        },
      );
      expect(JSON.stringify(flood.body)).toContain('flooded 1200');

      // Every stalled stream was closed: each session may open its stream again.
      for (const id of ids) expect(await streamStatus(serve.url, token, id)).toBe(200);
      // 30 streams at 4 MiB each would hold 120 MiB; the budget is 1 MiB. What
      // the collector has not reached yet gets a few seconds: a leak stays.
      const settled = await waitFor(
        () => (rssBytes(pid) - before < 48 * MiB ? true : undefined),
        10_000,
        'supervisor memory back under the bound',
      ).catch(() => false);
      expect(settled, `grew by ${Math.round((rssBytes(pid) - before) / MiB)} MiB`).toBe(true);
    } finally {
      for (const reader of readers) reader.close();
      expect((await serve.stop()).survivors).toEqual([]);
      workspace.cleanup();
    }
  }, 120_000);
});
