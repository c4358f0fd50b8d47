import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { textOf } from '../helpers/mcp-client.js';
import { descendants, waitGone } from '../helpers/processes.js';
import { CLI, createWorkspace, type TestWorkspace } from '../helpers/serve-process.js';

describe('serve --stdio', () => {
  let workspace: TestWorkspace;
  const clients: Client[] = [];

  beforeEach(() => {
    workspace = createWorkspace({ acme: {}, globex: {} });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    workspace.cleanup();
  });

  async function connectStdio(token: string): Promise<{ client: Client; pid: number }> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
      env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: token },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return { client, pid: transport.pid as number };
  }

  it("serves the token's tenant, and only that tenant's data", async () => {
    const acme = await connectStdio(await workspace.token('acme'));
    const globex = await connectStdio(await workspace.token('globex'));
    expect((await acme.client.listTools()).tools).toHaveLength(4);
    await acme.client.callTool({ name: 'data_set', arguments: { key: 'plan', value: 'acme' } });
    expect(
      textOf(await acme.client.callTool({ name: 'data_get', arguments: { key: 'plan' } })),
    ).toBe('acme');
    const miss = await globex.client.callTool({ name: 'data_get', arguments: { key: 'plan' } });
    expect(miss.isError).toBe(true);
  });

  it('exits cleanly, children included, when the host closes stdin', async () => {
    const { client, pid } = await connectStdio(await workspace.token('acme'));
    await client.listTools();
    const children = descendants(pid);
    expect(children.length).toBe(1);
    await client.close();
    clients.pop();
    expect(await waitGone([pid, ...children])).toEqual([]);
  });

  it('prints nothing but protocol on stdout, even for bad input', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '-m', workspace.manifestPath], {
      env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: await workspace.token('acme') },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.write('not json\n');
    child.stdin.write('[{"jsonrpc":"2.0","id":1,"method":"ping"}]\n');
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
    );
    // End input only once the initialize answer is out.
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (stdout.includes('"id":7')) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    child.stdin.end();
    expect(await exited).toBe(0);
    const lines = stdout.trim().split('\n');
    const messages = lines.map((line) => JSON.parse(line));
    expect(messages[0]).toMatchObject({ id: null, error: { code: -32700 } });
    expect(messages[1]).toMatchObject({ id: null, error: { code: -32600 } });
    expect(messages[2]).toMatchObject({ id: 7, result: { protocolVersion: '2025-06-18' } });
  });

  it('refuses to start without a valid token, with a one-line reason', async () => {
    for (const [token, reason] of [
      [undefined, /MCP_TENANT_TOKEN is not set/],
      ['garbage', /token is malformed|malformed/],
    ] as const) {
      const child = spawn(
        process.execPath,
        [CLI, 'serve', '--stdio', '-m', workspace.manifestPath],
        {
          env: { PATH: process.env.PATH ?? '', ...(token ? { MCP_TENANT_TOKEN: token } : {}) },
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(stderr).toMatch(reason);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
