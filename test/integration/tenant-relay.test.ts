import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SERVER } from '../../src/core/config.js';
import type { JsonRpcId, JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { RelayedChild } from '../../src/registry/relayed-child.js';
import type { TenantRelay } from '../../src/relay/tenant-relay.js';
import { waitGone } from '../helpers/processes.js';
import { FIXTURES } from '../helpers/serve-process.js';
import { tenantConfig } from '../helpers/tenant-config.js';

/** A session that records what the relay delivers to it. */
function recordingSession(
  id: string,
): RelaySession & { received: [JsonRpcMessage, JsonRpcId | undefined][] } {
  const received: [JsonRpcMessage, JsonRpcId | undefined][] = [];
  return {
    id,
    caller: { userId: id, permissions: [], isAdmin: true },
    capabilities: {},
    received,
    deliver: (message, related) => {
      received.push([message, related]);
      return true;
    },
  };
}

describe('TenantRelay (real child process)', () => {
  let dir: string;
  let child: RelayedChild;
  let relay: TenantRelay;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-relay-'));
    child = new RelayedChild({
      tenant: tenantConfig({ id: 'echo', request_timeout_ms: 300 }),
      plan: () => ({
        command: process.execPath,
        args: [join(FIXTURES, 'echo-server.mjs')],
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
      }),
      maxLineBytes: 1024 * 1024,
      maxJsonDepth: DEFAULT_SERVER.max_json_depth,
      log: silentLogger,
    });
    relay = child.relay;
  });

  afterEach(async () => {
    const pid = child.pid;
    await child.close();
    if (pid !== undefined) expect(await waitGone([pid])).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (id: JsonRpcId, name: string, args: Record<string, unknown>, meta?: object) => ({
    jsonrpc: '2.0' as const,
    id,
    method: 'tools/call',
    params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
  });

  it('answers every session with its own id and its own result', async () => {
    const sessions = ['a', 'b', 'c'].map(recordingSession);
    for (const session of sessions) relay.attach(session);
    await relay.initialize({ protocolVersion: '2025-11-25' });
    const answers = await Promise.all(
      sessions.map((session, index) =>
        relay.forward(session, call(1, 'slow', { ms: 30 * (3 - index), text: session.id })),
      ),
    );
    answers.forEach((answer, index) => {
      expect(answer).toMatchObject({ id: 1, result: { content: [{ text: sessions[index]?.id }] } });
    });
  });

  it('rewrites progress tokens and routes progress to the owning session only', async () => {
    const [a, b] = [recordingSession('a'), recordingSession('b')];
    relay.attach(a);
    relay.attach(b);
    await Promise.all([
      relay.forward(a, call('x', 'slow', { ms: 10, text: 'from-a' }, { progressToken: 'tok' })),
      relay.forward(b, call('x', 'slow', { ms: 10, text: 'from-b' }, { progressToken: 'tok' })),
    ]);
    expect(a.received).toEqual([
      [
        {
          jsonrpc: '2.0',
          method: 'notifications/progress',
          params: { progressToken: 'tok', progress: 1, total: 2, message: 'from-a' },
        },
        'x',
      ],
    ]);
    expect(b.received.map(([message]) => message)).toMatchObject([
      { params: { message: 'from-b' } },
    ]);
  });

  it('times a request out, tells the child, and frees the id for reuse', async () => {
    const session = recordingSession('a');
    relay.attach(session);
    const slow = await relay.forward(session, call(5, 'slow', { ms: 5_000, text: 'late' }));
    expect(slow).toMatchObject({ id: 5, error: { code: -30504, data: { code: 'CHILD_TIMEOUT' } } });
    const again = await relay.forward(session, call(5, 'echo', { text: 'reused' }));
    expect(again).toMatchObject({ id: 5, result: { content: [{ text: 'reused' }] } });
  });

  it('refuses an id already in flight on the same session', async () => {
    const session = recordingSession('a');
    relay.attach(session);
    const first = relay.forward(session, call(9, 'slow', { ms: 50, text: 'first' }));
    const second = await relay.forward(session, call(9, 'echo', { text: 'dup' }));
    expect(second).toMatchObject({
      id: 9,
      error: { message: expect.stringMatching(/already in flight/) },
    });
    expect(await first).toMatchObject({ result: { content: [{ text: 'first' }] } });
  });

  it('cancels in-flight requests of a session that leaves', async () => {
    const session = recordingSession('a');
    relay.attach(session);
    await relay.initialize({});
    const pending = relay.forward(session, call(1, 'slow', { ms: 5_000, text: 'x' }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    relay.detach(session);
    expect(await pending).toMatchObject({ error: { message: 'session closed' } });
  });
});
