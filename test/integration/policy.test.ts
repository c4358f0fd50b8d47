import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { TENANT_ID_META_KEY, USER_ID_META_KEY } from '../../src/core/child-meta.js';
import { connectHttp, rawPost, rawSession, textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  CLI,
  createWorkspace,
  FIXTURES,
  fixture,
  REPO_ROOT,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const GREETING = join(REPO_ROOT, 'examples', 'tools', 'greeting.mjs');

const cli = (args: string[]) => runCli(args);

/** The error of a rejected SDK call, as text: its JSON-RPC code and message. */
async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return (error as Error).message;
}

const names = (list: { name: string }[]) => list.map((item) => item.name);
const uris = (list: { uri: string }[]) => list.map((item) => item.uri);

describe('permissions, tenant policy and tenant tool modules through serve', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const clients: Client[] = [];

  const token = (tenant: string, user: string, permissions?: string[]) =>
    signToken(
      { secret: workspace.secret },
      { tenantId: tenant, userId: user, ttlSeconds: 600, permissions },
    );
  const client = async (tenant: string, user: string, permissions?: string[]) => {
    const connected = await connectHttp(serve.url, await token(tenant, user, permissions));
    clients.push(connected);
    return connected;
  };

  beforeAll(async () => {
    workspace = createWorkspace({
      acme: {
        tools_modules: [
          GREETING,
          join(FIXTURES, 'tool-modules', 'broken.mjs'),
          join(FIXTURES, 'tool-modules', 'clash.mjs'),
        ],
        tools: { deny: ['data_delete'] },
      },
      globex: {},
      paged: { ...fixture('paged-tools-server.mjs'), quotas: { max_tools: 3 } },
    });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    for (const connected of clients) await connected.close().catch(() => {});
    const stopped = await serve?.stop();
    expect(stopped?.survivors).toEqual([]);
    workspace?.cleanup();
  });

  it("lists the tenant's own module tools next to the defaults, minus what the manifest denies", async () => {
    const alice = await client('acme', 'alice');
    const tools = names((await alice.listTools()).tools);
    expect(tools.sort()).toEqual(['data_get', 'data_list', 'data_set', 'greeting']);
    expect(textOf(await alice.callTool({ name: 'greeting', arguments: { name: 'Bob' } }))).toBe(
      'Hello Bob, from alice at acme!',
    );
    // The broken and the clashing modules are reported; neither registered anything.
    await waitFor(
      () =>
        /broken\.mjs failed to load: this module is broken on purpose/.test(serve.stderr()) ||
        undefined,
    );
    expect(serve.stderr()).toMatch(/clash\.mjs failed to load: tool data_set exists already/);
    // The child's own structured lines become flat supervisor lines, labelled with the tenant.
    const loaded = serve
      .stderr()
      .split('\n')
      .filter((line) => line.includes('tool module loaded'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(loaded).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'tool module loaded',
        tenant: 'acme',
        stream: 'stderr',
        tools: 'greeting',
      }),
    );
  });

  it('keeps a tenant module to its own tenant', async () => {
    const bob = await client('globex', 'bob');
    expect(names((await bob.listTools()).tools).sort()).toEqual([
      'data_delete',
      'data_get',
      'data_list',
      'data_set',
    ]);
    const answer = await bob.callTool({ name: 'greeting', arguments: { name: 'x' } }).then(
      (result) => textOf(result),
      (error: Error) => error.message,
    );
    expect(answer).not.toContain('Hello');
    expect(answer).toMatch(/greeting/);
  });

  it('filters lists to the token, and refuses the rest naming the missing permission', async () => {
    const reader = await client('acme', 'reader', ['tools:data_get', 'tools:data_list']);
    expect(names((await reader.listTools()).tools).sort()).toEqual(['data_get', 'data_list']);
    expect(
      await failure(reader.callTool({ name: 'data_set', arguments: { key: 'k', value: 'v' } })),
    ).toBe(
      'MCP error -30403: permission denied: tool "data_set" needs the permission "tools:data_set", which this token does not grant (its tools permissions: tools:data_get, tools:data_list); ask for a token that includes it',
    );
    expect(await failure(reader.callTool({ name: 'greeting', arguments: { name: 'x' } }))).toMatch(
      /needs the permission "tools:greeting"/,
    );
    expect((await reader.listPrompts()).prompts).toEqual([]);
    expect(await failure(reader.getPrompt({ name: 'summarize_data' }))).toMatch(
      /-30403: permission denied: prompt "summarize_data" needs the permission "prompts:summarize_data"/,
    );
  });

  it('denies what the manifest denies even to an admin', async () => {
    const admin = await client('acme', 'root', ['admin']);
    expect(await failure(admin.callTool({ name: 'data_delete', arguments: { key: 'k' } }))).toBe(
      'MCP error -30403: permission denied: tool "data_delete" is denied to every caller of tenant acme (tools.deny in the manifest)',
    );
  });

  it('shows and reads only the resources a resource glob grants', async () => {
    const writer = await client('acme', 'writer', ['tools:data_set']);
    await writer.callTool({ name: 'data_set', arguments: { key: 'public-a', value: 'A' } });
    await writer.callTool({ name: 'data_set', arguments: { key: 'secret-b', value: 'B' } });
    const reader = await client('acme', 'reader', ['resources:tenant://acme/data/public*']);
    expect(uris((await reader.listResources()).resources)).toEqual(['tenant://acme/data/public-a']);
    expect((await reader.listResourceTemplates()).resourceTemplates).toHaveLength(1);
    const read = await reader.readResource({ uri: 'tenant://acme/data/public-a' });
    expect(read.contents[0]).toMatchObject({ text: 'A' });
    expect(await failure(reader.readResource({ uri: 'tenant://acme/data/secret-b' }))).toMatch(
      /-30403: permission denied: resource "tenant:\/\/acme\/data\/secret-b" needs the permission "resources:tenant:\/\/acme\/data\/secret-b"/,
    );
  });

  it('tells the child who calls, over anything the client claims, and records it on writes', async () => {
    const alice = await client('acme', 'alice');
    await alice.callTool({
      name: 'data_set',
      arguments: { key: 'who', value: '?' },
      _meta: { [USER_ID_META_KEY]: 'mallory', [TENANT_ID_META_KEY]: 'globex' },
    });
    const db = new Database(join(workspace.dir, 'data', 'acme', 'tenant.db'), { readonly: true });
    try {
      expect(db.prepare("SELECT updated_by FROM entries WHERE data_key = 'who'").get()).toEqual({
        updated_by: 'alice',
      });
    } finally {
      db.close();
    }
    // A third-party child sees the same keys, and never the token.
    const paged = await client('paged', 'carol');
    const meta = JSON.parse(textOf(await paged.callTool({ name: 't0', arguments: {} })));
    expect(meta).toEqual({ [USER_ID_META_KEY]: 'carol', [TENANT_ID_META_KEY]: 'paged' });
  });

  it('cuts a long tool list at max_tools in the child order, and doctor reports it', async () => {
    const carol = await client('paged', 'carol');
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await carol.listTools(cursor === undefined ? {} : { cursor });
      listed.push(...names(page.tools));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(listed).toEqual(['t0', 't1', 't2']);
    expect(await failure(carol.callTool({ name: 't5', arguments: {} }))).toMatch(
      /-30429: tool "t5" is not exposed: tenant paged shows only the first 3 tools its server lists \(max_tools\)/,
    );
    expect(serve.stderr()).toMatch(/lists at least 5 tools, over max_tools \(3\)/);
    const doctor = cli(['doctor', '-m', workspace.manifestPath, '--json']);
    const warning = (
      JSON.parse(doctor.stdout) as { check: string; status: string; detail: string }[]
    ).find((result) => result.check === 'max_tools paged');
    expect(warning).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/over max_tools \(3\)/),
    });
  });

  it('refuses a revoked token on its very next HTTP request', async () => {
    const bearer = await token('globex', 'dave');
    const session = await rawSession(serve.url, bearer);
    const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const headers = { authorization: `Bearer ${bearer}`, 'mcp-session-id': session };
    expect((await rawPost(serve.url, ping, headers)).status).toBe(200);
    const revoked = cli(['revoke', bearer, '-m', workspace.manifestPath, '--reason', 'test']);
    const jti = decodeJwt(bearer).jti as string;
    expect(revoked).toMatchObject({
      code: 0,
      stdout: `revoked ${jti}: refused from the next request on\n`,
    });
    const refused = await rawPost(serve.url, ping, headers);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(
      /error="invalid_token", error_description="token has been revoked/,
    );
    expect(refused.body).toMatchObject({
      error: { code: -30401, data: { code: 'AUTH_INVALID', reason: 'revoked' } },
    });
    expect(cli(['revoke', '--list', '-m', workspace.manifestPath]).stdout).toMatch(
      new RegExp(`^${jti}\\t\\S+\\ttest\\n$`),
    );
  });

  it('refuses a revoked token on the next request of a stdio session', async () => {
    const bearer = await token('globex', 'erin');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
      env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: bearer },
      stderr: 'pipe',
    });
    const stdio = new SdkClient({ name: 'stdio-test', version: '1.0.0' });
    clients.push(stdio); // before connecting: a failed start is closed in afterAll too
    await stdio.connect(transport);
    expect((await stdio.listTools()).tools.length).toBeGreaterThan(0);
    expect(
      cli(['revoke', decodeJwt(bearer).jti as string, '-m', workspace.manifestPath]).code,
    ).toBe(0);
    expect(await failure(stdio.listTools())).toBe(
      'MCP error -30401: token has been revoked; ask for a new one. Set a new MCP_TENANT_TOKEN (`mcp-tenants token globex`) and restart this server',
    );
  });
});
