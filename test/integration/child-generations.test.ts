/**
 * A tenant's child is replaced while the one before it is still exiting:
 * a request arrives during a graceful stop. Real child processes; the old
 * one (test/fixtures/ignore-sigterm.mjs) takes its stop's full length to die.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChildEvents } from '../../src/core/child-events.js';
import { DEFAULT_SERVER } from '../../src/core/config.js';
import type { JsonRpcId } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { RelayedChild } from '../../src/registry/relayed-child.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import { FIXTURES } from '../helpers/serve-process.js';
import { tenantConfig } from '../helpers/tenant-config.js';

interface Exit {
  pid: number;
  crashed: boolean;
}

const session: RelaySession = {
  id: 's',
  caller: { userId: 'u', permissions: [], isAdmin: true },
  capabilities: {},
  deliver: () => true,
};

function call(id: JsonRpcId, name: string, args: Record<string, unknown>) {
  return {
    jsonrpc: '2.0' as const,
    id,
    method: 'tools/call',
    params: { name, arguments: args },
  };
}

describe('a child replaced while the previous one is still stopping', () => {
  let dir: string;
  let child: RelayedChild;
  const exits: Exit[] = [];
  const pids: number[] = [];

  function start(fixture: string): void {
    const events: ChildEvents = {
      started: (_tenant, event) => pids.push(event.pid),
      exited: (_tenant, event) => exits.push({ pid: event.pid, crashed: event.crashed }),
    };
    child = new RelayedChild({
      tenant: tenantConfig({ id: 'gen', request_timeout_ms: 20_000 }),
      plan: () => ({
        command: process.execPath,
        args: [join(FIXTURES, fixture)],
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
      }),
      maxLineBytes: 1024 * 1024,
      maxJsonDepth: DEFAULT_SERVER.max_json_depth,
      log: silentLogger,
      events,
    });
    child.relay.attach(session);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-generations-'));
    exits.length = 0;
    pids.length = 0;
  });

  afterEach(async () => {
    await child.close();
    expect(await waitGone(pids)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the old child exit, not as a crash, and fails nothing of the new one', async () => {
    start('ignore-sigterm.mjs');
    await child.warm();
    const [old] = pids;
    // Asked to stop: it ignores stdin EOF and SIGTERM, so it takes ~4 s to die.
    const stopping = child.slot.stop('test');
    expect(child.slot.state).toBe('stopping');

    const first = await child.relay.forward(session, call(1, 'pid', {}));
    expect(pids).toHaveLength(2);
    const fresh = pids[1];
    expect(fresh).not.toBe(old);
    expect(first).toMatchObject({ result: { content: [{ text: String(fresh) }] } });

    // In the new child while the old one dies: its exit must not fail this call.
    const slow = child.relay.forward(session, call(2, 'slow', { ms: 5_000, text: 'kept' }));
    await stopping;
    await waitFor(() => exits.find((exit) => exit.pid === old), 10_000, 'the old child exit');
    expect(exits).toEqual([{ pid: old, crashed: false }]);
    expect(await slow).toMatchObject({ id: 2, result: { content: [{ text: 'kept' }] } });
    expect(child.slot.state).toBe('running');
    expect(child.slot.crashes).toBe(0);
  }, 30_000);

  it('stops at once: a request right after stop() gets a new child', async () => {
    start('echo-server.mjs');
    await child.warm();
    const [old] = pids;
    const stopping = child.slot.stop('test');
    const answer = await child.relay.forward(session, call(1, 'pid', {}));
    await stopping;
    expect(answer).toMatchObject({ result: { content: [{ text: String(pids[1]) }] } });
    expect(pids[1]).not.toBe(old);
    await waitFor(() => exits.length === 1 || undefined, 5_000, 'the old child exit');
    expect(exits).toEqual([{ pid: old, crashed: false }]);
  });
});
