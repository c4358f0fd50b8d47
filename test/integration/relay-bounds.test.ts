import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER } from '../../src/core/config.js';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { RelayedChild } from '../../src/registry/relayed-child.js';
import { connectHttp, INITIALIZE, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  FIXTURES,
  fixture,
  startServe,
} from '../helpers/serve-process.js';
import { tenantConfig } from '../helpers/tenant-config.js';

describe('nothing in the relay grows without bound', () => {
  it('keeps its tables empty after 10 000 sessions open, call, subscribe and close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-bounds-'));
    const child = new RelayedChild({
      tenant: tenantConfig({ id: 'features', request_timeout_ms: 5_000 }),
      plan: () => ({
        command: process.execPath,
        args: [join(FIXTURES, 'features-server.mjs')],
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
      }),
      maxLineBytes: 1024 * 1024,
      maxJsonDepth: DEFAULT_SERVER.max_json_depth,
      log: silentLogger,
    });
    const relay = child.relay;
    try {
      await relay.initialize({});
      const batch = 100;
      for (let round = 0; round < 10_000 / batch; round += 1) {
        await Promise.all(
          Array.from({ length: batch }, async (_, index) => {
            const session: RelaySession = {
              id: `s${round}-${index}`,
              caller: { userId: 'u', permissions: [], isAdmin: true },
              capabilities: {},
              deliver: (_message: JsonRpcMessage) => true,
            };
            relay.attach(session);
            await relay.forward(session, {
              jsonrpc: '2.0',
              id: 1,
              method: 'resources/subscribe',
              params: { uri: `feature://item/${index % 7}` },
            });
            await relay.forward(session, {
              jsonrpc: '2.0',
              id: 2,
              method: 'logging/setLevel',
              params: { level: 'debug' },
            });
            await relay.forward(session, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
            relay.detach(session);
          }),
        );
      }
      // The last unsubscribes are the relay's own requests: let the child answer them.
      await waitFor(() => relay.tableSizes.pending === 0 || undefined, 5_000, 'pending to drain');
      expect(relay.tableSizes).toEqual({
        sessions: 0,
        pending: 0,
        subscriptions: 0,
        serverRequests: 0,
        inputRounds: 0,
      });
    } finally {
      const pid = child.pid;
      await child.close();
      if (pid) expect(await waitGone([pid])).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('forgets HTTP sessions on DELETE', async () => {
    const workspace = createWorkspace({ echo: fixture('echo-server.mjs') });
    const serve = await startServe(workspace.manifestPath);
    try {
      const token = await workspace.token('echo');
      const health = () => adminStatus(serve.url, workspace);
      for (let round = 0; round < 10; round += 1) {
        const ids = await Promise.all(
          Array.from({ length: 50 }, () => rawSession(serve.url, token)),
        );
        expect((await health()).sessions).toBe(50);
        await Promise.all(
          ids.map((id) =>
            fetch(serve.url, {
              method: 'DELETE',
              headers: { authorization: `Bearer ${token}`, 'mcp-session-id': id },
            }),
          ),
        );
        expect((await health()).sessions).toBe(0);
      }
    } finally {
      expect((await serve.stop()).survivors).toEqual([]);
      workspace.cleanup();
    }
  }, 60_000);
});

describe('isolation: session', () => {
  it('gives each session its own child, caps them, and stops a child with its session', async () => {
    const workspace = createWorkspace({
      perconn: { ...fixture('echo-server.mjs'), isolation: 'session', max_sessions: 2 },
    });
    const serve = await startServe(workspace.manifestPath);
    try {
      const first = await connectHttp(serve.url, await workspace.token('perconn', 'a'));
      const second = await connectHttp(serve.url, await workspace.token('perconn', 'b'));
      const pidOf = async (client: typeof first) =>
        Number(textOf(await client.callTool({ name: 'pid', arguments: {} })));
      const [pidA, pidB] = [await pidOf(first), await pidOf(second)];
      expect(pidA).not.toBe(pidB);

      const third = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.token('perconn', 'c')}`,
      });
      expect(third.status).toBe(429);
      expect(JSON.stringify(third.body)).toMatch(/max_sessions/);

      await (first.transport as StreamableHTTPClientTransport).terminateSession();
      await first.close();
      expect(await waitGone([pidA])).toEqual([]);
      const again = await connectHttp(serve.url, await workspace.token('perconn', 'c'));
      expect(await pidOf(again)).not.toBe(pidA);
      await Promise.all([second.close(), again.close()]);
    } finally {
      expect((await serve.stop()).survivors).toEqual([]);
      workspace.cleanup();
    }
  });
});
