import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, errorFrom, McpTenantsError } from '../../src/core/errors.js';
import {
  errorResponse,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { Cancellation, type RequestStage, runStages } from '../../src/core/pipeline.js';
import { queryAudit } from '../../src/telemetry/audit-log.js';
import { classifyOutcome } from '../../src/telemetry/outcome.js';
import { buildReport } from '../../src/telemetry/report.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { parsePrometheus, sumOf } from '../helpers/prometheus.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const session: RelaySession = {
  id: 's1',
  caller: { userId: 'alice', permissions: [], isAdmin: false, jti: 'jti-1' },
  capabilities: undefined,
  deliver: () => true,
};

function call(id: number, name: string, args: Record<string, unknown> = {}): JsonRpcRequest {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/** Stands in for the policy and quota stages: refuses by tool name. */
const refusing: RequestStage = async (context, next) => {
  if (context.request.params?.name === 'denied') {
    throw new McpTenantsError(ErrorCode.FORBIDDEN, 'missing permission tools:denied');
  }
  if (context.request.params?.name === 'flood') {
    return errorFrom(
      context.request.id,
      new McpTenantsError(ErrorCode.QUOTA_EXCEEDED, 'rate limit', {
        data: { retry_after_ms: 100 },
      }),
    );
  }
  return next(context.request);
};

/** Stands in for the child. */
async function child(request: JsonRpcRequest): Promise<JsonRpcResponse> {
  const name = request.params?.name;
  if (name === 'broken')
    return { jsonrpc: '2.0', id: request.id, result: { isError: true, content: [] } };
  if (name === 'late')
    return errorFrom(request.id, new McpTenantsError(ErrorCode.CHILD_TIMEOUT, 'late'));
  if (name === 'dies')
    return errorFrom(request.id, new McpTenantsError(ErrorCode.CHILD_CRASHED, 'died'));
  if (name === 'odd') return errorResponse(request.id, -32601, 'Method not found');
  return { jsonrpc: '2.0', id: request.id, result: { content: [] } };
}

describe('the telemetry stage', () => {
  let db: Database.Database;
  let telemetry: Telemetry;
  afterEach(async () => {
    await telemetry?.close();
    db?.close();
  });

  function setup(audit = { arguments: false, max_argument_bytes: 32 }) {
    db = new Database(':memory:');
    telemetry = new Telemetry({
      store: { kind: 'sqlite', db },
      config: {
        retention_days: 30,
        rollup_retention_days: 400,
        flush_interval_ms: 60_000,
        flush_rows: 1000,
      },
      log: silentLogger,
      isTenant: () => true,
    });
    const tenant = tenantConfig({ id: 'acme', audit });
    return (request: JsonRpcRequest) =>
      runStages(
        [telemetry.stage, refusing],
        {
          tenant,
          session,
          request,
          startedAt: performance.now(),
          cancellation: new Cancellation(),
        },
        child,
      );
  }

  it('counts each outcome once, including refusals made by the stages after it', async () => {
    const send = setup();
    const names = ['ok', 'ok', 'broken', 'odd', 'denied', 'flood', 'late', 'dies'];
    const answers = await Promise.all(names.map((name, i) => send(call(i, name))));
    expect(answers.map(classifyOutcome)).toEqual([
      'ok',
      'ok',
      'tool_error',
      'rpc_error',
      'permission',
      'quota',
      'timeout',
      'crash',
    ]);
    // A refusal thrown by a later stage still reaches the client as a JSON-RPC error.
    expect(answers[4]).toMatchObject({
      id: 4,
      error: { code: -30403, data: { code: 'FORBIDDEN' } },
    });
    await send({ jsonrpc: '2.0', id: 99, method: 'tools/list' });

    telemetry.flush();
    const [acme] = buildReport(db, { since: 0, until: Date.now() + 1, tenants: ['acme'] }).tenants;
    expect(acme).toMatchObject({
      requests: 9,
      tool_calls: 8,
      errors: {
        total: 6,
        tool_error: 1,
        rpc_error: 1,
        quota: 1,
        permission: 1,
        timeout: 1,
        crash: 1,
      },
      users: 1,
    });
    const metrics = parsePrometheus(telemetry.metrics.render(() => true, []));
    expect(sumOf(metrics, 'mcp_tenants_requests_total', { tenant: 'acme' })).toBe(9);
    expect(sumOf(metrics, 'mcp_tenants_requests_total', { outcome: 'quota' })).toBe(1);
    expect(sumOf(metrics, 'mcp_tenants_request_bytes_total', { tenant: 'acme' })).toBeGreaterThan(
      0,
    );
    expect(telemetry.recentFigures('acme')).toMatchObject({ quota_refusals: 1, error_rate: 0.667 });
  });

  it('audits tool calls with who and outcome, and arguments only when the tenant asks, capped', async () => {
    const send = setup({ arguments: true, max_argument_bytes: 32 });
    await send(call(1, 'ok', { key: 'short' }));
    await send(call(2, 'denied', { value: 'x'.repeat(100) }));
    telemetry.flush();
    const rows = queryAudit(db, { since: 0, until: Date.now() + 1, limit: 10 });
    expect(rows.map((row) => [row.actor, row.action, row.target, row.outcome])).toEqual([
      ['alice', 'tools/call', 'ok', 'ok'],
      ['alice', 'tools/call', 'denied', 'permission'],
    ]);
    expect(JSON.parse(rows[0]?.detail ?? '')).toEqual({
      jti: 'jti-1',
      arguments: { key: 'short' },
    });
    const detail = JSON.parse(rows[1]?.detail ?? '');
    expect(detail.arguments).toMatchObject({ truncated: true, bytes: 112 });
    expect(Buffer.byteLength(detail.arguments.head)).toBeLessThanOrEqual(32);
  });

  it('stores no arguments by default', async () => {
    const send = setup();
    await send(call(1, 'ok', { secret: 'personal data' }));
    telemetry.flush();
    const [row] = queryAudit(db, { since: 0, until: Date.now() + 1, limit: 10 });
    expect(row?.detail).not.toContain('personal data');
  });

  it('records the trace id of a W3C traceparent in _meta, and leaves _meta as it was', async () => {
    const send = setup();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const request = call(1, 'ok');
    request.params = { ...request.params, _meta: { traceparent } };
    await send(request);
    expect(request.params._meta).toEqual({ traceparent });
    telemetry.flush();
    expect(db.prepare('SELECT trace_id FROM telemetry_requests').get()).toEqual({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });
});
