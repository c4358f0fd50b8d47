import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { INITIALIZE } from '../helpers/mcp-client.js';
import {
  createWorkspace,
  REPO_ROOT,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

// mcp-remote: the stdio bridge desktop hosts (Claude Desktop among them) run for remote servers.
const MCP_REMOTE = join(REPO_ROOT, 'node_modules/mcp-remote/dist/proxy.js');
const ADVICE =
  'this MCP server does not issue tokens: send Authorization: Bearer <token> with a token from `mcp-tenants token <tenant>`';

interface Bridge {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  /** The next JSON-RPC message it prints whose id is `id`. */
  answer(id: number): Promise<{ result?: unknown; error?: { message: string } }>;
  exited: Promise<number | null>;
}

describe('mcp-remote through serve', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let configDir: string;
  const bridges: Bridge[] = [];

  const bridge = (extra: string[]): Bridge => {
    const child = spawn(process.execPath, [MCP_REMOTE, serve.url, ...extra], {
      // Its OAuth state lives here, never in the user's home; no browser is ever opened.
      env: { PATH: process.env.PATH ?? '', HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    const waiting = new Map<number, (message: Record<string, unknown>) => void>();
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      let newline = stdout.indexOf('\n');
      while (newline >= 0) {
        const message = JSON.parse(stdout.slice(0, newline)) as Record<string, unknown>;
        stdout = stdout.slice(newline + 1);
        if (typeof message.id === 'number') waiting.get(message.id)?.(message);
        newline = stdout.indexOf('\n');
      }
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const made: Bridge = {
      child,
      stderr: () => stderr,
      answer: (id) => new Promise((resolve) => waiting.set(id, resolve)),
      exited,
    };
    bridges.push(made);
    return made;
  };
  const send = (to: Bridge, message: object): void => {
    to.child.stdin.write(`${JSON.stringify(message)}\n`);
  };
  const initialize = (to: Bridge): void => send(to, { ...INITIALIZE, id: 1 });

  beforeAll(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'mcp-remote-'));
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
  });
  afterAll(async () => {
    for (const { child, exited } of bridges) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    }
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('relays a desktop host’s calls with the token in --header', async () => {
    const token = await workspace.token('acme', 'alice');
    const remote = bridge(['--header', `Authorization: Bearer ${token}`]);
    initialize(remote);
    const initialized = await remote.answer(1);
    expect(initialized.error).toBeUndefined();
    send(remote, { jsonrpc: '2.0', method: 'notifications/initialized' });
    send(remote, {
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'data_set', arguments: { key: 'bridged', value: 'yes' } },
    });
    expect(JSON.stringify(await remote.answer(2))).toContain('stored bridged');
    remote.child.stdin.end();
  });

  it('shows a host without a token how to send one, instead of a failed registration', async () => {
    const remote = bridge([]);
    initialize(remote);
    expect(await remote.exited).not.toBe(0);
    expect(remote.stderr()).toContain(ADVICE);
  });

  it('shows the same advice when the token has expired', async () => {
    const expired = await signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: 'alice', ttlSeconds: 3600, now: Date.now() - 2 * 3600_000 },
    );
    const remote = bridge(['--header', `Authorization: Bearer ${expired}`]);
    initialize(remote);
    expect(await remote.exited).not.toBe(0);
    expect(remote.stderr()).toContain(ADVICE);
    // It never got as far as sending the user to a login page.
    expect(remote.stderr()).not.toContain('Please authorize this client');
  });
});
