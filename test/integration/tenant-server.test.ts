/**
 * The built-in tenant server as the supervisor runs it: the compiled entry
 * (dist/tenant-server/main.js, built by the caller) in a real child process,
 * driven by the SDK's own stdio client.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_VERSION } from '../../src/core/version.js';

const ENTRY = fileURLToPath(new URL('../../dist/tenant-server/main.js', import.meta.url));
const TENANT = 'acme';
const EXIT_WAIT_MS = 5000;

let dataDir: string;
const cleanups: Array<() => Promise<void>> = [];
const pids: number[] = [];

interface Connected {
  client: Client;
  /** Transport-level errors, e.g. a stdout line that is not JSON-RPC. */
  errors: Error[];
  stderr: () => string;
}

function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    MCP_TENANT_ID: TENANT,
    MCP_TENANT_DATA_DIR: dataDir,
    MCP_TENANT_MAX_STORAGE_MB: '16',
    PATH: process.env.PATH ?? '',
    ...extra,
  };
}

async function connect(env: Record<string, string> = {}): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [ENTRY],
    env: childEnv(env),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const client = new Client({ name: 'tenant-server-test', version: '0.0.0' });
  const errors: Error[] = [];
  client.onerror = (error) => errors.push(error);
  cleanups.push(() => client.close());
  await client.connect(transport);
  if (transport.pid !== null) pids.push(transport.pid);
  return { client, errors, stderr: () => stderr };
}

function spawnChild(env: Record<string, string>): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [ENTRY], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) pids.push(child.pid);
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
  });
  return child;
}

function waitForExit(
  child: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`child did not exit within ${EXIT_WAIT_MS} ms`)),
      EXIT_WAIT_MS,
    );
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Collects stdout and resolves each time a line with the given JSON-RPC id arrives. */
function stdoutLines(child: ChildProcessWithoutNullStreams) {
  let buffer = '';
  const lines: string[] = [];
  const waiters = new Map<number, (line: string) => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      const id = /"id":(\d+)/.exec(line)?.[1];
      if (id !== undefined) waiters.get(Number(id))?.(line);
      newline = buffer.indexOf('\n');
    }
  });
  return {
    lines,
    rest: () => buffer,
    response: (id: number) => new Promise<string>((resolve) => waiters.set(id, resolve)),
  };
}

function send(child: ChildProcessWithoutNullStreams, message: object): void {
  child.stdin.write(`${JSON.stringify(message)}\n`);
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '0' },
  },
};

function text(result: unknown): string {
  const first = (result as CallToolResult).content[0];
  return first?.type === 'text' ? first.text : '';
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

beforeAll(() => {
  if (!existsSync(ENTRY)) {
    throw new Error(`${ENTRY} is missing: build first (npx tsc -p tsconfig.build.json)`);
  }
});

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tenant-server-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const pid of pids.splice(0)) {
    // 'close' can come a moment before the kernel reaps the pid.
    const deadline = Date.now() + EXIT_WAIT_MS;
    while (!isGone(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(isGone(pid), `pid ${pid} still running`).toBe(true);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tenant server over stdio', () => {
  it('identifies itself and lists the four default tools', async () => {
    const { client, errors } = await connect();
    expect(client.getServerVersion()).toEqual({
      name: 'mcp-tenants-child',
      version: PACKAGE_VERSION,
    });
    expect(client.getInstructions()).toContain(TENANT);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'data_delete',
      'data_get',
      'data_list',
      'data_set',
    ]);
    const list = tools.find((tool) => tool.name === 'data_list');
    expect(list?.outputSchema).toBeDefined();
    expect(list?.annotations?.readOnlyHint).toBe(true);
    expect(errors).toEqual([]);
  });

  it('stores, reads, lists and deletes a value', async () => {
    const { client, errors } = await connect();
    const set = await client.callTool({
      name: 'data_set',
      arguments: { key: 'notes/50%_off', value: 'héllo' },
    });
    expect(set.isError).toBeFalsy();
    expect(text(set)).toBe('stored notes/50%_off (6 bytes)');

    const get = await client.callTool({ name: 'data_get', arguments: { key: 'notes/50%_off' } });
    expect(text(get)).toBe('héllo');

    await client.callTool({ name: 'data_set', arguments: { key: 'other', value: 'x' } });
    const list = await client.callTool({ name: 'data_list', arguments: { prefix: 'notes/' } });
    const expected = {
      items: [{ key: 'notes/50%_off', bytes: 6, updated_at: expect.any(String) }],
    };
    expect(list.structuredContent).toEqual(expected);
    expect(JSON.parse(text(list))).toEqual(expected);

    const deleted = await client.callTool({
      name: 'data_delete',
      arguments: { key: 'notes/50%_off' },
    });
    expect(text(deleted)).toBe('deleted notes/50%_off');
    const again = await client.callTool({
      name: 'data_delete',
      arguments: { key: 'notes/50%_off' },
    });
    expect(again.isError).toBe(true);
    const missing = await client.callTool({
      name: 'data_get',
      arguments: { key: 'notes/50%_off' },
    });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toBe('no such key: notes/50%_off');
    expect(errors).toEqual([]);
  });

  it('pages data_list 100 keys at a time', async () => {
    const { client } = await connect();
    for (let i = 0; i < 101; i += 1) {
      await client.callTool({
        name: 'data_set',
        arguments: { key: `k${String(i).padStart(3, '0')}`, value: 'v' },
      });
    }
    const first = await client.callTool({ name: 'data_list', arguments: {} });
    const page = first.structuredContent as { items: unknown[]; nextCursor?: string };
    expect(page.items).toHaveLength(100);
    expect(page.nextCursor).toEqual(expect.any(String));
    const second = await client.callTool({
      name: 'data_list',
      arguments: { cursor: page.nextCursor },
    });
    expect(second.structuredContent).toEqual({
      items: [{ key: 'k100', bytes: 1, updated_at: expect.any(String) }],
    });
  });

  it('answers bad input with a tool error, not a protocol error', async () => {
    const { client } = await connect();
    const empty = await client.callTool({ name: 'data_set', arguments: { key: '', value: 'v' } });
    expect(empty.isError).toBe(true);
    expect(text(empty)).toMatch(/key must be 1 to 512 characters/);
    const cursor = await client.callTool({ name: 'data_list', arguments: { cursor: '!!' } });
    expect(cursor.isError).toBe(true);
    expect(text(cursor)).toMatch(/invalid cursor/);
  });

  it('records the caller from _meta as updated_by', async () => {
    const { client } = await connect();
    await client.callTool({
      name: 'data_set',
      arguments: { key: 'k', value: 'v' },
      _meta: { 'io.mcp-tenants/user_id': 'alice' },
    });
    const db = new Database(join(dataDir, 'tenant.db'), { readonly: true });
    try {
      const row = db
        .prepare('SELECT tenant_id, updated_by FROM entries WHERE data_key = ?')
        .get('k');
      expect(row).toEqual({ tenant_id: TENANT, updated_by: 'alice' });
    } finally {
      db.close();
    }
  });

  it('exposes each key as a resource', async () => {
    const { client } = await connect();
    await client.callTool({
      name: 'data_set',
      arguments: { key: 'a/b c,d', value: 'resource text' },
    });
    const uri = `tenant://${TENANT}/data/${encodeURIComponent('a/b c,d')}`;

    const { resources } = await client.listResources();
    expect(resources).toEqual([
      expect.objectContaining({ uri, name: 'a/b c,d', mimeType: 'text/plain' }),
    ]);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['tenant://{tenant}/data/{key}']);

    const read = await client.readResource({ uri });
    expect(read.contents).toEqual([{ uri, mimeType: 'text/plain', text: 'resource text' }]);

    await expect(
      client.readResource({ uri: `tenant://globex/data/${encodeURIComponent('a/b c,d')}` }),
    ).rejects.toThrow(/does not belong to tenant acme/);
    await expect(client.readResource({ uri: `tenant://${TENANT}/data/nope` })).rejects.toThrow(
      /no such key: nope/,
    );
  });

  it('offers a summarize_data prompt naming the keys', async () => {
    const { client } = await connect();
    for (const key of ['report/q1', 'report/q2', 'misc']) {
      await client.callTool({ name: 'data_set', arguments: { key, value: 'v' } });
    }
    const { prompts } = await client.listPrompts();
    expect(prompts.map((prompt) => prompt.name)).toEqual(['summarize_data']);
    const prompt = await client.getPrompt({
      name: 'summarize_data',
      arguments: { prefix: 'report/' },
    });
    const message = prompt.messages[0];
    expect(message?.role).toBe('user');
    const body = message?.content.type === 'text' ? message.content.text : '';
    expect(body).toContain('report/q1');
    expect(body).toContain('report/q2');
    expect(body).not.toContain('misc');
  });

  it('refuses writes over the storage quota with a clear tool error', async () => {
    const { client } = await connect({ MCP_TENANT_MAX_STORAGE_MB: '1' });
    const chunk = 'x'.repeat(300 * 1024);
    let refused: CallToolResult | undefined;
    let stored = 0;
    for (let i = 0; i < 10 && refused === undefined; i += 1) {
      const result = (await client.callTool({
        name: 'data_set',
        arguments: { key: `chunk${i}`, value: chunk },
      })) as CallToolResult;
      if (result.isError) refused = result;
      else stored += 1;
    }
    expect(stored).toBeGreaterThanOrEqual(2);
    expect(refused).toBeDefined();
    expect(text(refused)).toMatch(/storage quota exceeded for tenant acme/);
    expect(text(refused)).toMatch(/max_storage_mb/);
    const refusedKey = await client.callTool({
      name: 'data_get',
      arguments: { key: `chunk${stored}` },
    });
    expect(refusedKey.isError).toBe(true);
  });
});

describe('tenant server process lifecycle', () => {
  it('exits with code 0 when its stdin closes, having printed only JSON on stdout', async () => {
    const child = spawnChild(childEnv());
    const out = stdoutLines(child);
    const initialized = out.response(1);
    send(child, INITIALIZE);
    await initialized;
    send(child, { jsonrpc: '2.0', method: 'notifications/initialized' });
    const listed = out.response(2);
    send(child, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await listed;

    child.stdin.end();
    expect(await waitForExit(child)).toEqual({ code: 0, signal: null });
    expect(out.rest()).toBe('');
    for (const line of out.lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
  });

  it('answers a request that arrives just before stdin ends', async () => {
    const child = spawnChild(childEnv());
    const out = stdoutLines(child);
    const initialized = out.response(1);
    child.stdin.end(`${JSON.stringify(INITIALIZE)}\n`);
    await initialized;
    expect(await waitForExit(child)).toEqual({ code: 0, signal: null });
  });

  it('exits with code 0 on SIGTERM', async () => {
    const child = spawnChild(childEnv());
    const out = stdoutLines(child);
    const initialized = out.response(1);
    send(child, INITIALIZE);
    await initialized;
    child.kill('SIGTERM');
    expect(await waitForExit(child)).toEqual({ code: 0, signal: null });
  });

  it('exits 2 when the store URL comes without its schema or with a bad epoch, never printing the URL', async () => {
    const url = 'postgres://mcp_abcdef_acme:not-for-the-log@127.0.0.1:1/db';
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { MCP_TENANT_STORE_URL: url },
        /^mcp-tenants child: MCP_TENANT_STORE_SCHEMA is not set[^\n]*\n$/,
      ],
      [
        { MCP_TENANT_STORE_URL: url, MCP_TENANT_STORE_SCHEMA: 's', MCP_TENANT_LEASE_EPOCH: '-1' },
        /^mcp-tenants child: MCP_TENANT_LEASE_EPOCH "-1" is not a lease epoch[^\n]*\n$/,
      ],
      [
        { MCP_TENANT_STORE_URL: 'mysql://u:not-for-the-log@h/db', MCP_TENANT_STORE_SCHEMA: 's' },
        /^mcp-tenants child: MCP_TENANT_STORE_URL must be a postgres:\/\/ URL[^\n]*\n$/,
      ],
    ];
    for (const [extra, reason] of cases) {
      const child = spawnChild(childEnv(extra));
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      expect((await waitForExit(child)).code).toBe(2);
      expect(stderr).toMatch(reason);
      expect(stderr).not.toContain('not-for-the-log');
    }
  });

  it('loads the PostgreSQL driver only for data in PostgreSQL', () => {
    const dir = dirname(ENTRY);
    const loaders = readdirSync(dir)
      .filter((name) => name.endsWith('.js'))
      .filter((name) =>
        /from ['"]pg['"]|require\(['"]pg['"]\)/.test(readFileSync(join(dir, name), 'utf8')),
      );
    expect(loaders).toEqual([]);
    expect(readFileSync(join(dir, 'pg-store.js'), 'utf8')).toContain("import('pg')");
    expect(readFileSync(join(dir, 'open-store.js'), 'utf8')).toContain("import('./pg-store.js')");
  });

  it('exits 2 with a one-line reason when MCP_TENANT_ID is missing', async () => {
    const env = childEnv();
    delete env.MCP_TENANT_ID;
    const child = spawnChild(env);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const out = stdoutLines(child);
    expect((await waitForExit(child)).code).toBe(2);
    expect(stderr).toMatch(/^mcp-tenants child: MCP_TENANT_ID is not set[^\n]*\n$/);
    expect(out.lines).toEqual([]);
  });
});
