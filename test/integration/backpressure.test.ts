import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { INITIALIZE, rawPost, rawSession } from '../helpers/mcp-client.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import { rssBytes } from '../helpers/raw-http.js';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const MIB = 1024 * 1024;

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
    send({ ...INITIALIZE, id: 1 });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'info' } });
    // 400 × 256 KiB = 100 MiB of notifications while nobody reads stdout.
    send({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'flood', arguments: { count: 400, bytes: 256 * 1024 } },
    });
    const pid = child.pid as number;
    await waitFor(() => /not reading stdout/.test(stderr) || undefined, 20_000, 'the drop warning');
    expect(rssBytes(pid)).toBeLessThan(250 * MIB);
    // Reading again, the host gets the answer: nothing that was owed is lost.
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    await waitFor(() => stdout.includes('flooded 400') || undefined, 30_000, 'the answer');
    child.stdin.end();
    expect(await waitGone([pid], 10_000)).toEqual([]);
  }, 60_000);
});
