import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { INITIALIZE, rawPost, rawSession } from '../helpers/mcp-client.js';
import { descendants, waitFor, waitGone } from '../helpers/processes.js';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const MIB = 1024 * 1024;

/** Bytes a process has written (its `wchar` in /proc), pipes included. */
function bytesWritten(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

/** A reader that stops reading slows itself down, never the supervisor's memory. */
describe('backpressure', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
  });

  it('refuses new requests to a child that stopped reading its stdin instead of buffering them', async () => {
    workspace = createWorkspace({
      deaf: { ...fixture('deaf-after-init.mjs'), request_timeout_ms: 3_000 },
      acme: {},
    });
    serve = await startServe(workspace.manifestPath);
    const url = serve.url;
    const auth = { authorization: `Bearer ${await workspace.token('deaf')}` };
    const session = await rawSession(url, auth.authorization.slice(7));
    const big = 'x'.repeat(512 * 1024);
    const headers = { ...auth, 'mcp-session-id': session };
    // 40 × 512 KiB = 20 MiB at a child that reads none of it.
    // Those that reached the pipe time out (3 s); the rest are refused at once.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        rawPost(
          url,
          {
            jsonrpc: '2.0',
            id: index + 1,
            method: 'tools/call',
            params: { name: 'echo', arguments: { text: big } },
          },
          headers,
        ),
      ),
    );
    const refusals = answers.filter((answer) =>
      JSON.stringify(answer.body).includes('not reading its input'),
    );
    expect(refusals.length).toBeGreaterThan(0);
    // The rest of the supervisor is unaffected.
    const other = await rawPost(url, INITIALIZE, {
      authorization: `Bearer ${await workspace.token('acme')}`,
    });
    expect(other.status).toBe(200);
  }, 30_000);

  it('serve --stdio stops reading stdin and drops notifications while the host does not read stdout', async () => {
    workspace = createWorkspace({ flood: fixture('flood-notifications.mjs') });
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          MCP_TENANT_TOKEN: await workspace.token('flood'),
        },
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const send = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`);
    const pid = child.pid as number;
    try {
      send({ ...INITIALIZE, id: 1 });
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'info' } });
      // 800 × 256 KiB = 200 MiB of notifications while nobody reads stdout.
      send({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'flood', arguments: { count: 800, bytes: 256 * 1024 } },
      });
      await waitFor(
        () => /not reading stdout/.test(stderr) || undefined,
        20_000,
        'the drop warning',
      );
      // The whole flood has left the child (its write count says so) before the host reads.
      const [floodPid] = descendants(pid);
      await waitFor(
        () => bytesWritten(floodPid as number) >= 200 * MIB || undefined,
        30_000,
        'the flood to be sent',
      );
      // Reading now, the host gets the answer (nothing owed is lost) and little
      // more than the 4 MiB stdout may hold: the rest was dropped, not buffered.
      let received = 0;
      let tail = '';
      child.stdout.on('data', (chunk: Buffer) => {
        received += chunk.length;
        tail = (tail + chunk.toString()).slice(-4096);
      });
      await waitFor(() => tail.includes('flooded 800') || undefined, 30_000, 'the answer');
      expect(received).toBeLessThan(16 * MIB);
      const resumed = await waitFor(
        () => /"dropped_notifications":(\d+)/.exec(stderr)?.[1],
        5_000,
        'the count of dropped notifications',
      );
      expect(Number(resumed)).toBeGreaterThan(0);
      child.stdin.end();
      expect(await waitGone([pid], 10_000)).toEqual([]);
    } finally {
      // A failed assertion still leaves no supervisor behind (its child exits on stdin EOF).
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
