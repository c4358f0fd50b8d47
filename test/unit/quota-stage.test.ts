import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TenantConfig } from '../../src/core/config.js';
import { errorFrom } from '../../src/core/errors.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { Cancellation, type RequestStage, runStages } from '../../src/core/pipeline.js';
import { ListingCatalog } from '../../src/policy/listing-catalog.js';
import { ConcurrencyLimiter } from '../../src/quota/concurrency.js';
import { CounterStore } from '../../src/quota/counter-store.js';
import { quotaStage } from '../../src/quota/quota-stage.js';
import { SharedCounters } from '../../src/quota/shared-counters.js';
import { STORAGE_SAMPLE_MS, StorageSampler } from '../../src/quota/storage-sampler.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const session = (userId: string): RelaySession => ({
  id: userId,
  caller: { userId, permissions: ['admin'], isAdmin: true },
  capabilities: undefined,
  deliver: () => true,
});

const call = (name = 'echo'): JsonRpcRequest => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, arguments: {} },
});

const ok = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => ({
  jsonrpc: '2.0',
  id: request.id,
  result: {},
});

/** A child whose answers the test releases one by one. */
function heldChild() {
  const waiting: (() => void)[] = [];
  const answer = (request: JsonRpcRequest) =>
    new Promise<JsonRpcResponse>((resolve) => {
      waiting.push(() => resolve({ jsonrpc: '2.0', id: request.id, result: {} }));
    });
  return { waiting, answer };
}

describe('the quota stage', () => {
  let db: Database.Database;
  let now: number;
  let counters: SharedCounters;
  let catalog: ListingCatalog;
  let measured: number;
  let stage: RequestStage;

  beforeEach(() => {
    db = new Database(':memory:');
    now = Date.UTC(2025, 0, 15, 12, 0, 0);
    measured = 0;
    counters = new SharedCounters({
      store: new CounterStore(db),
      log: silentLogger,
      now: () => now,
    });
    catalog = new ListingCatalog();
    stage = quotaStage({
      counters,
      slots: new ConcurrencyLimiter(),
      storage: new StorageSampler(
        () => now,
        async () => measured,
      ),
      readOnlyTools: catalog,
      tenantDir: (id) => `/data/${id}`,
    });
  });

  afterEach(() => {
    counters.close();
    db.close();
  });

  /** As the relay does it: a refusal becomes the JSON-RPC error the client gets. */
  const send = (
    tenant: TenantConfig,
    request: JsonRpcRequest,
    child: (request: JsonRpcRequest) => Promise<JsonRpcResponse> = ok,
    user = 'alice',
    cancellation = new Cancellation(),
  ) =>
    runStages(
      [stage],
      { tenant, session: session(user), request, startedAt: 0, cancellation },
      child,
    ).catch((error: unknown) => errorFrom(request.id, error));

  it('refuses the request over max_requests_per_minute with the limit and when to retry', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_requests_per_minute = 3;
    for (let i = 0; i < 3; i++) expect(await send(tenant, call())).toHaveProperty('result');
    now += 20_000;
    expect(await send(tenant, call())).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: {
        code: -30429,
        message:
          'rate limit exceeded: tenant acme allows 3 requests per minute (max_requests_per_minute); retry in 41 s',
        data: {
          code: 'QUOTA_EXCEEDED',
          quota: 'max_requests_per_minute',
          limit: 3,
          retry_after_seconds: 41,
        },
      },
    });
  });

  it('counts users apart with max_requests_per_minute_per_user', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_requests_per_minute_per_user = 2;
    for (let i = 0; i < 2; i++)
      expect(await send(tenant, call(), ok, 'alice')).toHaveProperty('result');
    expect(await send(tenant, call(), ok, 'alice')).toMatchObject({
      error: {
        message: expect.stringMatching(
          /^rate limit exceeded: user alice may send 2 requests per minute to tenant acme/,
        ),
        data: { quota: 'max_requests_per_minute_per_user', limit: 2 },
      },
    });
    expect(await send(tenant, call(), ok, 'bob')).toHaveProperty('result');
  });

  it('applies a changed limit to the next request (reload)', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_requests_per_minute = 1;
    expect(await send(tenant, call())).toHaveProperty('result');
    expect(await send(tenant, call())).toHaveProperty('error');
    const reloaded = { ...tenant, quotas: { ...tenant.quotas, max_requests_per_minute: 2 } };
    expect(await send(reloaded, call())).toHaveProperty('result');
  });

  it('counts only tools/call against the daily quota, and never refuses ping or log levels', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_tool_calls_per_day = 1;
    tenant.quotas.max_requests_per_minute = 3;
    expect(await send(tenant, call())).toHaveProperty('result');
    expect(await send(tenant, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).toHaveProperty(
      'result',
    );
    expect(await send(tenant, call())).toMatchObject({
      error: { data: { quota: 'max_tool_calls_per_day', retry_after_seconds: 12 * 3600 } },
    });
    for (let i = 0; i < 10; i++) {
      for (const method of [
        'ping',
        'logging/setLevel',
        'resources/subscribe',
        'resources/unsubscribe',
      ]) {
        expect(await send(tenant, { jsonrpc: '2.0', id: 3, method, params: {} })).toHaveProperty(
          'result',
        );
      }
    }
  });

  it('refuses beyond max_concurrent_requests at once, and frees the slot when the answer comes', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_concurrent_requests = 2;
    const child = heldChild();
    const first = send(tenant, call(), child.answer);
    const second = send(tenant, call(), child.answer);
    expect(await send(tenant, call(), child.answer)).toMatchObject({
      error: {
        code: -30429,
        message:
          'too many requests in flight: tenant acme allows 2 at once (max_concurrent_requests); retry in 1 s',
        data: { quota: 'max_concurrent_requests', limit: 2, retry_after_seconds: 1 },
      },
    });
    await vi.waitFor(() => expect(child.waiting).toHaveLength(2));
    child.waiting.shift()?.();
    await first;
    const third = send(tenant, call(), child.answer);
    await vi.waitFor(() => expect(child.waiting).toHaveLength(2));
    for (const release of child.waiting.splice(0)) release();
    expect(await Promise.all([second, third])).toMatchObject([{ result: {} }, { result: {} }]);
  });

  it('queues up to max_queue, in order, then refuses', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_concurrent_requests = 1;
    tenant.quotas.max_queue = 1;
    const child = heldChild();
    const order: string[] = [];
    const first = send(tenant, call('a'), (request) => {
      order.push('a');
      return child.answer(request);
    });
    const queued = send(tenant, call('b'), (request) => {
      order.push('b');
      return child.answer(request);
    });
    expect(await send(tenant, call('c'))).toMatchObject({
      error: {
        message: expect.stringContaining(
          'allows 1 at once (max_concurrent_requests) and 1 waiting (max_queue)',
        ),
      },
    });
    await vi.waitFor(() => expect(child.waiting).toHaveLength(1));
    expect(order).toEqual(['a']);
    child.waiting.shift()?.();
    await first;
    await vi.waitFor(() => expect(child.waiting).toHaveLength(1));
    child.waiting.shift()?.();
    expect(await queued).toHaveProperty('result');
    expect(order).toEqual(['a', 'b']);
  });

  it('takes a cancelled request out of the queue at once, and the next one takes its place', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_concurrent_requests = 1;
    tenant.quotas.max_queue = 1;
    const child = heldChild();
    const first = send(tenant, call('a'), child.answer);
    const cancellation = new Cancellation();
    const queued = send(tenant, call('b'), child.answer, 'alice', cancellation);
    cancellation.cancel();
    expect(await queued).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32800, message: 'cancelled while waiting for a slot' },
    });
    // Its place in the queue is free again.
    const next = send(tenant, call('c'), child.answer);
    await vi.waitFor(() => expect(child.waiting).toHaveLength(1));
    child.waiting.shift()?.();
    await first;
    await vi.waitFor(() => expect(child.waiting).toHaveLength(1));
    child.waiting.shift()?.();
    expect(await next).toHaveProperty('result');
  });

  it('refuses a queued request that waited longer than request_timeout_ms', async () => {
    vi.useFakeTimers();
    try {
      const tenant = tenantConfig({ id: 'acme', request_timeout_ms: 1_000 });
      tenant.quotas.max_concurrent_requests = 1;
      tenant.quotas.max_queue = 5;
      const child = heldChild();
      const first = send(tenant, call(), child.answer);
      const waiting = send(tenant, call());
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await waiting).toMatchObject({
        error: {
          message: expect.stringContaining('no free request slot for tenant acme within 1000 ms'),
        },
      });
      child.waiting.shift()?.();
      await first;
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses writing tools of a third-party child over max_storage_mb, from a sample of its folder', async () => {
    const tenant = tenantConfig({ id: 'files', command: 'node' });
    tenant.quotas.max_storage_mb = 1;
    catalog.recordTool('files', 'read_file', true);
    measured = 2 * 1024 * 1024;
    // The first call finds no sample yet and starts one: admitted.
    expect(await send(tenant, call('write_file'))).toHaveProperty('result');
    await vi.waitFor(async () =>
      expect(await send(tenant, call('write_file'))).toHaveProperty('error'),
    );
    expect(await send(tenant, call('write_file'))).toMatchObject({
      error: {
        code: -30429,
        message: expect.stringContaining(
          'storage quota exceeded for tenant files: its data folder holds 2.0 MB of 1 MB',
        ),
        data: { code: 'STORAGE_QUOTA_EXCEEDED', quota: 'max_storage_mb', limit: 1 },
      },
    });
    expect(await send(tenant, call('read_file'))).toHaveProperty('result');
    // Freed space shows in the next sample.
    measured = 0;
    now += STORAGE_SAMPLE_MS;
    await send(tenant, call('read_file'));
    await vi.waitFor(async () =>
      expect(await send(tenant, call('write_file'))).toHaveProperty('result'),
    );
  });

  it('leaves the built-in server to measure its own storage', async () => {
    const tenant = tenantConfig({ id: 'acme' });
    tenant.quotas.max_storage_mb = 1;
    measured = 5 * 1024 * 1024;
    for (let i = 0; i < 3; i++)
      expect(await send(tenant, call('data_set'))).toHaveProperty('result');
  });
});
