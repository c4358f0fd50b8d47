import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TENANT_ID_META_KEY, USER_ID_META_KEY } from '../../src/core/child-meta.js';
import { DEFAULT_SERVER, type TenantConfig } from '../../src/core/config.js';
import { McpTenantsError } from '../../src/core/errors.js';
import type { JsonObject, JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { createLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import {
  type Caller,
  Cancellation,
  type RequestStage,
  runStages,
} from '../../src/core/pipeline.js';
import { ListCursors } from '../../src/policy/list-cursor.js';
import { ListingCatalog } from '../../src/policy/listing-catalog.js';
import { OverCapRecorder, readOverCap } from '../../src/policy/over-cap.js';
import { policyStage } from '../../src/policy/policy-stage.js';
import { identityStage } from '../../src/relay/identity-stage.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const session = (...permissions: string[]): RelaySession => ({
  id: 's1',
  caller: { userId: 'alice', permissions, isAdmin: permissions.includes('admin') } satisfies Caller,
  capabilities: undefined,
  deliver: () => true,
});

/** Tools the fake child lists: t0..t(n-1), `pageSize` a page, cursors "p<index>". */
function fakeChild(count: number, pageSize: number) {
  const seen: JsonRpcRequest[] = [];
  const answer = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => {
    seen.push(request);
    if (request.method === 'tools/list') {
      const start = request.params?.cursor ? Number(String(request.params.cursor).slice(1)) : 0;
      const tools = Array.from({ length: Math.min(pageSize, count - start) }, (_, i) => ({
        name: `t${start + i}`,
        inputSchema: { type: 'object' },
        ...(start + i === 0 && { annotations: { readOnlyHint: true } }),
      }));
      const result: JsonObject = { tools };
      if (start + pageSize < count) result.nextCursor = `p${start + pageSize}`;
      return { jsonrpc: '2.0', id: request.id, result };
    }
    return { jsonrpc: '2.0', id: request.id, result: { ok: true } };
  };
  return { seen, answer };
}

describe('the policy stage', () => {
  let db: Database.Database;
  let logs: string[];
  let catalog: ListingCatalog;
  let stage: RequestStage;

  beforeEach(() => {
    db = new Database(':memory:');
    logs = [];
    catalog = new ListingCatalog();
    stage = policyStage({
      maxUriLength: () => DEFAULT_SERVER.max_uri_length,
      cursors: new ListCursors(),
      catalog,
      overCap: new OverCapRecorder(
        db,
        createLogger({ json: true, write: (line) => logs.push(line) }),
      ),
    });
  });

  afterEach(() => db.close());

  const send = (
    tenant: TenantConfig,
    caller: RelaySession,
    request: JsonRpcRequest,
    child: (request: JsonRpcRequest) => Promise<JsonRpcResponse>,
  ) =>
    runStages(
      [stage],
      { tenant, session: caller, request, startedAt: 0, cancellation: new Cancellation() },
      child,
    );

  const call = (name: string): JsonRpcRequest => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name, arguments: {} },
  });

  it('refuses a call the token does not allow before the child sees it', async () => {
    const child = fakeChild(3, 10);
    const tenant = tenantConfig({ id: 'acme' });
    await expect(send(tenant, session('tools:t1'), call('t2'), child.answer)).rejects.toMatchObject(
      {
        code: 'FORBIDDEN',
        data: { required_permission: 'tools:t2' },
      },
    );
    expect(child.seen).toEqual([]);
    expect(await send(tenant, session('tools:t1'), call('t1'), child.answer)).toMatchObject({
      result: { ok: true },
    });
  });

  it('refuses every kind: resources/read, resources/subscribe, prompts/get, completion', async () => {
    const child = fakeChild(0, 10);
    const tenant = tenantConfig({ id: 'acme' });
    const caller = session('tools:*');
    const requests: [string, JsonObject, string][] = [
      ['resources/read', { uri: 'tenant://acme/data/a' }, 'resources:tenant://acme/data/a'],
      ['resources/subscribe', { uri: 'tenant://acme/data/a' }, 'resources:tenant://acme/data/a'],
      ['prompts/get', { name: 'summarize' }, 'prompts:summarize'],
      [
        'completion/complete',
        { ref: { type: 'ref/prompt', name: 'summarize' } },
        'prompts:summarize',
      ],
    ];
    for (const [method, params, required] of requests) {
      await expect(
        send(tenant, caller, { jsonrpc: '2.0', id: 1, method, params }, child.answer),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', data: { required_permission: required } });
    }
    expect(child.seen).toEqual([]);
  });

  it('passes requests that touch nothing of the tenant, whatever the token', async () => {
    const child = fakeChild(0, 10);
    const tenant = tenantConfig({ id: 'acme' });
    for (const method of ['ping', 'logging/setLevel', 'resources/unsubscribe', 'tasks/list']) {
      const request = {
        jsonrpc: '2.0' as const,
        id: 1,
        method,
        params: { uri: 'x', level: 'info' },
      };
      expect(await send(tenant, session(), request, child.answer)).toMatchObject({ result: {} });
    }
    expect(child.seen.map((request) => request.method)).toHaveLength(4);
  });

  it('refuses a call without a name as invalid params', async () => {
    const child = fakeChild(0, 10);
    const request: JsonRpcRequest = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} };
    await expect(
      send(tenantConfig({ id: 'acme' }), session('admin'), request, child.answer),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: 'invalid tools/call request: params.name must be a non-empty string',
    });
  });

  it('filters lists page by page, keeping the pagination', async () => {
    const child = fakeChild(5, 2);
    const tenant = tenantConfig({
      id: 'acme',
      policy: { ...tenantConfig({ id: 'x' }).policy, tools: { allow: ['*'], deny: ['t1'] } },
    });
    const caller = session('tools:t0', 'tools:t1', 'tools:t4');
    const pages: string[][] = [];
    let cursor: unknown;
    do {
      const params = cursor === undefined ? {} : { cursor };
      const response = await send(
        tenant,
        caller,
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params },
        child.answer,
      );
      const result = (response as { result: JsonObject }).result;
      pages.push((result.tools as { name: string }[]).map((tool) => tool.name));
      cursor = result.nextCursor;
    } while (cursor !== undefined);
    // t1 denied by the tenant, t2/t3 not granted by the token; page 2 comes back empty.
    expect(pages).toEqual([['t0'], [], ['t4']]);
    expect(child.seen.map((request) => request.params?.cursor)).toEqual([undefined, 'p2', 'p4']);
  });

  it('cuts at max_tools in the child order across pages, hides the rest from calls, and records it', async () => {
    const child = fakeChild(7, 2);
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_tools = 3;
    const caller = session('tools:*');
    const names: string[] = [];
    let cursor: unknown;
    do {
      const params = cursor === undefined ? {} : { cursor };
      const response = await send(
        tenant,
        caller,
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params },
        child.answer,
      );
      const result = (response as { result: JsonObject }).result;
      names.push(...(result.tools as { name: string }[]).map((tool) => tool.name));
      cursor = result.nextCursor;
    } while (cursor !== undefined);
    expect(names).toEqual(['t0', 't1', 't2']);
    await expect(send(tenant, caller, call('t3'), child.answer)).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message:
        'tool "t3" is not exposed: tenant acme shows only the first 3 tools its server lists (max_tools)',
    });
    expect(readOverCap(db)).toMatchObject([{ tenant: 'acme', kind: 'tools', listed: 5, cap: 3 }]);
    expect(logs.join('')).toContain('lists at least 5 tools, over max_tools (3)');
    expect(catalog.isReadOnlyTool('acme', 't0')).toBe(true);
    expect(catalog.isReadOnlyTool('acme', 't1')).toBe(false);

    // The cap raised on reload: the next listing shows all, and the record is cleared.
    tenant.quotas.max_tools = 100;
    const all = await send(
      tenant,
      caller,
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
      () => Promise.resolve({ jsonrpc: '2.0', id: 2, result: { tools: [{ name: 't3' }] } }),
    );
    expect(all).toMatchObject({ result: { tools: [{ name: 't3' }] } });
    expect(readOverCap(db)).toEqual([]);
    expect(await send(tenant, caller, call('t3'), child.answer)).toMatchObject({
      result: { ok: true },
    });
  });

  it('refuses a cursor it did not issue', async () => {
    const child = fakeChild(5, 2);
    const request: JsonRpcRequest = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { cursor: 'p2' },
    };
    await expect(
      send(tenantConfig({ id: 'acme' }), session('tools:*'), request, child.answer),
    ).rejects.toMatchObject({
      code: 'USAGE',
    });
    expect(child.seen).toEqual([]);
  });

  it('marks filtered lists private for 2026-07-28 clients only', async () => {
    const child = fakeChild(1, 10);
    const tenant = tenantConfig({ id: 'acme' });
    const stateless = {
      jsonrpc: '2.0' as const,
      id: 1,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
    };
    expect(await send(tenant, session('tools:*'), stateless, child.answer)).toMatchObject({
      result: { cacheScope: 'private' },
    });
    const classic = await send(
      tenant,
      session('tools:*'),
      { ...stateless, params: {} },
      child.answer,
    );
    expect((classic as { result: JsonObject }).result.cacheScope).toBeUndefined();
  });

  it('lists templates the caller could read from, and checks completion by template', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    const templates = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => ({
      jsonrpc: '2.0',
      id: request.id,
      result: {
        resourceTemplates: [
          { uriTemplate: 'tenant://{tenant}/data/{key}' },
          { uriTemplate: 'file:///{path}' },
        ],
      },
    });
    const caller = session('resources:tenant://acme/*');
    const list = await send(
      tenant,
      caller,
      { jsonrpc: '2.0', id: 1, method: 'resources/templates/list' },
      templates,
    );
    expect(list).toMatchObject({
      result: { resourceTemplates: [{ uriTemplate: 'tenant://{tenant}/data/{key}' }] },
    });
    const complete = (uri: string): JsonRpcRequest => ({
      jsonrpc: '2.0',
      id: 1,
      method: 'completion/complete',
      params: { ref: { type: 'ref/resource', uri }, argument: { name: 'key', value: '' } },
    });
    expect(
      await send(tenant, caller, complete('tenant://{tenant}/data/{key}'), templates),
    ).toMatchObject({ id: 1 });
    await expect(
      send(tenant, caller, complete('file:///{path}'), templates),
    ).rejects.toBeInstanceOf(McpTenantsError);
  });
});

describe('the identity stage', () => {
  it('stamps the verified user and tenant into _meta, over whatever the client sent', async () => {
    let forwarded: JsonRpcRequest | undefined;
    const request: JsonRpcRequest = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name: 'x',
        _meta: { [USER_ID_META_KEY]: 'mallory', [TENANT_ID_META_KEY]: 'globex', progressToken: 7 },
      },
    };
    await runStages(
      [identityStage()],
      {
        tenant: tenantConfig({ id: 'acme' }),
        session: session(),
        request,
        startedAt: 0,
        cancellation: new Cancellation(),
      },
      async (next) => {
        forwarded = next;
        return { jsonrpc: '2.0', id: 1, result: {} };
      },
    );
    expect(forwarded?.params?._meta).toEqual({
      [USER_ID_META_KEY]: 'alice',
      [TENANT_ID_META_KEY]: 'acme',
      progressToken: 7,
    });
    // The client's own object is left as it was.
    expect(request.params?._meta).toMatchObject({ [USER_ID_META_KEY]: 'mallory' });
  });

  it('adds _meta to requests that had no params', async () => {
    let forwarded: JsonRpcRequest | undefined;
    await runStages(
      [identityStage()],
      {
        tenant: tenantConfig({ id: 'acme' }),
        session: session(),
        request: { jsonrpc: '2.0', id: 1, method: 'ping' },
        startedAt: 0,
        cancellation: new Cancellation(),
      },
      async (next) => {
        forwarded = next;
        return { jsonrpc: '2.0', id: 1, result: {} };
      },
    );
    expect(forwarded?.params).toEqual({
      _meta: { [USER_ID_META_KEY]: 'alice', [TENANT_ID_META_KEY]: 'acme' },
    });
  });
});
