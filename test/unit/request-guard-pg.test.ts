import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RequestGuard } from '../../src/app/request-guard.js';
import { REVOCATION_MIGRATIONS } from '../../src/auth/pg-migrations.js';
import { errorFrom } from '../../src/core/errors.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import { Cancellation, type RelaySession, runStages } from '../../src/core/pipeline.js';
import { readOverCapAt } from '../../src/policy/over-cap.js';
import { QUOTA_MIGRATIONS } from '../../src/quota/pg-migrations.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/processes.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const session: RelaySession = {
  id: 's1',
  caller: { userId: 'alice', permissions: ['admin'], isAdmin: true },
  capabilities: undefined,
  deliver: () => true,
};

describe.skipIf(postgresSkipReason !== undefined)('the request guard on PostgreSQL', () => {
  let server: TestPostgres;
  let url: string;
  let store: PostgresStore;
  let guard: RequestGuard | undefined;

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterEach(async () => {
    await guard?.close();
    guard = undefined;
    await store?.close();
  });

  afterAll(() => server?.stop());

  const send = (
    tenant: ReturnType<typeof tenantConfig>,
    request: JsonRpcRequest,
    child: (request: JsonRpcRequest) => Promise<JsonRpcResponse>,
  ) =>
    runStages(
      (guard as RequestGuard).stages,
      { tenant, session, request, startedAt: 0, cancellation: new Cancellation() },
      child,
    ).catch((error: unknown) => errorFrom(request.id, error));

  it('counts, revokes and records over-cap listings in the shared database', async () => {
    url = await server.createDatabase('guard');
    store = await PostgresStore.open(url, { log: silentLogger, applicationName: 'guard test' });
    await migrate(store, [...QUOTA_MIGRATIONS, ...REVOCATION_MIGRATIONS]);
    guard = new RequestGuard({
      store: { kind: 'postgres', pg: store },
      log: silentLogger,
      dataDir: () => '/nonexistent',
      maxUriLength: () => 2048,
    });
    await guard.ready();

    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_requests_per_minute = 3;
    tenant.quotas.max_tools = 2;
    const tools = ['a', 'b', 'c', 'd'].map((name) => ({ name, inputSchema: { type: 'object' } }));
    const child = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => ({
      jsonrpc: '2.0',
      id: request.id,
      result: request.method === 'tools/list' ? { tools } : {},
    });
    const list: JsonRpcRequest = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    expect(await send(tenant, list, child)).toMatchObject({
      result: { tools: [{ name: 'a' }, { name: 'b' }] },
    });
    for (let i = 0; i < 2; i++) expect(await send(tenant, list, child)).toHaveProperty('result');
    expect(await send(tenant, list, child)).toMatchObject({
      error: {
        code: -30429,
        data: { code: 'QUOTA_EXCEEDED', quota: 'max_requests_per_minute', limit: 3 },
      },
    });

    // Written behind the request, where doctor reads it.
    const recorded = await waitFor(async () => {
      const rows = await readOverCapAt(url);
      return rows.length > 0 ? rows : undefined;
    });
    expect(recorded).toMatchObject([{ tenant: 'acme', kind: 'tools', listed: 4, cap: 2 }]);

    const revoked: string[] = [];
    guard.onRevoked((jti) => revoked.push(jti));
    expect(guard.revocations.has('j1')).toBe(false);
    expect(await guard.revocations.revoke('j1', 'test', Date.now() + 60_000)).toBe(true);
    expect(guard.revocations.has('j1')).toBe(true);
    expect(revoked).toEqual(['j1']);
  });

  it('reads no over-cap record from a database no node has migrated', async () => {
    url = await server.createDatabase('guard_empty');
    store = await PostgresStore.open(url, { log: silentLogger, applicationName: 'guard test' });
    expect(await readOverCapAt(url)).toEqual([]);
  });
});
