import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RelaySession } from '../../src/core/pipeline.js';
import { Cancellation, runStages } from '../../src/core/pipeline.js';
import { queryAudit } from '../../src/telemetry/audit-log.js';
import { Telemetry } from '../../src/telemetry/telemetry.js';
import { parsePrometheus, sumOf } from '../helpers/prometheus.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const session: RelaySession = {
  id: 's1',
  caller: { userId: 'alice', permissions: [], isAdmin: false },
  capabilities: undefined,
  deliver: () => true,
};

/** Objects nested `depth` deep: fine for V8's JSON.parse, fatal for JSON.stringify. */
function nested(depth: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let at = root;
  for (let i = 0; i < depth; i++) {
    const next: Record<string, unknown> = {};
    at.a = next;
    at = next;
  }
  return root;
}

function call(id: number, name: string, args: unknown): JsonRpcRequest {
  return {
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args as Record<string, unknown> },
  };
}

/**
 * One record that cannot be written (or one message that cannot be
 * serialised) never stops the records of anyone else from reaching the
 * database, and what is dropped is counted.
 */
describe('telemetry against records that cannot be written', () => {
  let db: Database.Database;
  let telemetry: Telemetry;
  afterEach(async () => {
    await telemetry?.close();
    db?.close();
  });

  function setup() {
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
    const tenant = tenantConfig({ id: 'acme', audit: { arguments: true, max_argument_bytes: 64 } });
    const echo = async (request: JsonRpcRequest): Promise<JsonRpcResponse> => ({
      jsonrpc: '2.0',
      id: request.id,
      result: { content: [], echoed: request.params?.arguments },
    });
    return (request: JsonRpcRequest) =>
      runStages(
        [telemetry.stage],
        {
          tenant,
          session,
          request,
          startedAt: performance.now(),
          cancellation: new Cancellation(),
        },
        echo,
      );
  }

  const requestRows = () =>
    db.prepare('SELECT name, request_bytes, response_bytes FROM telemetry_requests').all() as {
      name: string;
      request_bytes: number;
      response_bytes: number;
    }[];

  it('records a message too deep to serialise by its fields, and the next one still lands', async () => {
    const send = setup();
    await send(call(1, 'deep', nested(10_000)));
    await send(call(2, 'next', { key: 'k' }));
    telemetry.flush();
    expect(requestRows().map((row) => row.name)).toEqual(['deep', 'next']);
    const next = requestRows()[1];
    expect(next?.request_bytes).toBeGreaterThan(0);
    expect(next?.response_bytes).toBeGreaterThan(0);
    const audit = queryAudit(db, { since: 0, until: Date.now() + 1, limit: 10 });
    expect(audit.map((row) => row.target)).toEqual(['deep', 'next']);
    expect(JSON.parse(audit[1]?.detail ?? '{}')).toEqual({ arguments: { key: 'k' } });
  });

  it('writes the good records of a batch, drops the bad one, and counts it on /metrics', async () => {
    const send = setup();
    await send(call(1, 'before', {}));
    // A detail the audit chain cannot serialise (a BigInt), among good records.
    telemetry.audit({
      tenant: 'acme',
      actor: 'operator',
      action: 'poison',
      target: null,
      outcome: 'ok',
      detail: { n: 1n },
    });
    await send(call(2, 'after', {}));
    telemetry.flush();
    expect(requestRows().map((row) => row.name)).toEqual(['before', 'after']);
    const audit = queryAudit(db, { since: 0, until: Date.now() + 1, limit: 10 });
    expect(audit.map((row) => row.action)).toEqual(['tools/call', 'tools/call']);
    const metrics = parsePrometheus(telemetry.metrics.render(() => true, []));
    expect(sumOf(metrics, 'mcp_tenants_telemetry_dropped_total', { tenant: 'acme' })).toBe(1);
    // Later flushes are not held up by it.
    await send(call(3, 'later', {}));
    telemetry.flush();
    expect(requestRows().map((row) => row.name)).toEqual(['before', 'after', 'later']);
  });
});
