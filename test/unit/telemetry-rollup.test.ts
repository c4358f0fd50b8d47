import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/telemetry/outcome.js';
import type { ChildRecord, RequestRecord, UsageDelta } from '../../src/telemetry/records.js';
import { buildReport } from '../../src/telemetry/report.js';
import { DAY_MS, Retention } from '../../src/telemetry/retention.js';
import { TelemetryStore } from '../../src/telemetry/telemetry-store.js';

const HOUR = 3_600_000;
/** A fixed clock: 2025-06-01T00:00:00Z. */
const T0 = Date.UTC(2025, 5, 1);

function request(
  ts: number,
  tenant: string,
  name: string,
  outcome: Outcome,
  ms: number,
): RequestRecord {
  return {
    kind: 'request',
    ts,
    tenant,
    user: 'alice',
    method: 'tools/call',
    name,
    outcome,
    errorCode: outcome === 'ok' || outcome === 'tool_error' ? null : -32603,
    latencyUs: ms * 1000,
    traceId: null,
    requestBytes: 100,
    responseBytes: 50,
  };
}

function usage(tenant: string, minute: number, cpuSeconds: number, rssMb: number): UsageDelta {
  const rssBytes = rssMb * 1024 * 1024;
  return {
    ...{ tenant, pid: 7, minute, cpuSeconds, rssByteSeconds: rssBytes * 60, sampledSeconds: 60 },
    ...{ rssPeak: rssBytes, samples: 60, toolCalls: 2, toolErrors: 1, toolMs: 5 },
    ...{ dbBytes: 4096, dbRows: 3 },
  };
}

function child(ts: number, event: 'start' | 'exit', restart = false, crashed = false): ChildRecord {
  return {
    ...{
      kind: 'child',
      ts,
      tenant: 'acme',
      pid: 7,
      event,
      startMs: event === 'start' ? 300 : null,
    },
    ...{ restart, crashed, limit: crashed ? 'memory' : null, reason: null },
  };
}

describe('retention: rollup into hourly aggregates', () => {
  let db: Database.Database;
  afterEach(() => db?.close());

  function seed(): void {
    db = new Database(':memory:');
    const store = new TelemetryStore(db);
    const records = [];
    // Three hours of traffic for two tenants, latencies 1..60 ms.
    for (let i = 0; i < 180; i++) {
      const outcome: Outcome = i % 10 === 0 ? 'tool_error' : i % 17 === 0 ? 'timeout' : 'ok';
      records.push(
        request(
          T0 + i * 60_000,
          i % 3 === 0 ? 'globex' : 'acme',
          `t${i % 4}`,
          outcome,
          (i % 60) + 1,
        ),
      );
    }
    records.push(
      child(T0, 'start'),
      child(T0 + HOUR, 'exit', false, true),
      child(T0 + HOUR + 1, 'start', true),
    );
    const usages = [0, 1, 2, 61, 125].map((m) => usage('acme', T0 + m * 60_000, 0.5, 64));
    store.write(records, usages);
  }

  const window = { since: T0, until: T0 + 4 * HOUR, tenants: ['acme', 'globex'] };

  it('keeps every total equal, one bounded step at a time', () => {
    seed();
    const before = buildReport(db, window);
    const retention = new Retention(db, {
      retentionDays: 1,
      rollupRetentionDays: 400,
      chunkRows: 50,
    });
    const now = T0 + 3 * DAY_MS;
    const steps: number[] = [];
    for (let done = retention.step(now); done > 0; done = retention.step(now)) steps.push(done);
    expect(Math.max(...steps)).toBeLessThanOrEqual(50);
    expect(steps.length).toBeGreaterThan(3);
    for (const table of ['telemetry_requests', 'telemetry_usage', 'telemetry_children']) {
      expect(db.prepare(`SELECT count(*) AS n FROM ${table}`).get()).toEqual({ n: 0 });
    }

    const after = buildReport(db, window);
    const totals = (report: typeof before) =>
      report.tenants.map(({ latency_ms: _l, top_tools, users: _u, ...rest }) => ({
        ...rest,
        top_tools: top_tools.map(({ p50_ms: _p, ...tool }) => tool),
      }));
    expect(totals(after)).toEqual(totals(before));
    const acme = after.tenants.find((t) => t.tenant === 'acme');
    expect(acme).toMatchObject({ restarts: 1, starts: 2, crashes: 1, limit_kills: 1 });
    expect(acme?.cpu_seconds).toBe(2.5);
    expect(acme?.memory_mb_hours).toBeCloseTo((64 * 5 * 60) / 3600, 3);
    expect(acme?.child).toMatchObject({ tool_calls: 10, tool_errors: 5, rows: 3 });
    // Percentiles become estimates, within the bucket of the exact value.
    for (const [i, tenant] of after.tenants.entries()) {
      const exact = before.tenants[i]?.latency_ms;
      expect(tenant.latency_ms.approximate).toBe(true);
      expect(tenant.latency_ms.p50).toBeGreaterThan((exact?.p50 ?? 0) / 2.5);
      expect(tenant.latency_ms.p50).toBeLessThanOrEqual((exact?.p50 ?? 0) * 2.5);
    }
  });

  it('only rolls up whole hours past the cutoff, and merges later rows into the same hour', () => {
    seed();
    const retention = new Retention(db, { retentionDays: 1, rollupRetentionDays: 400 });
    // Cutoff at T0 + 1h: only the first hour is rolled up.
    retention.runAll(T0 + DAY_MS + HOUR + 59 * 60_000);
    const raw = db.prepare('SELECT min(ts) AS first FROM telemetry_requests').get() as {
      first: number;
    };
    expect(raw.first).toBe(T0 + HOUR);
    expect(buildReport(db, window).tenants.map((t) => t.requests)).toEqual([120, 60]);

    // A late row of the first hour (another supervisor's) lands in the same aggregate.
    new TelemetryStore(db).write([request(T0 + 5, 'acme', 't0', 'ok', 3)], []);
    retention.runAll(T0 + DAY_MS + HOUR + 59 * 60_000);
    expect(buildReport(db, window).tenants.map((t) => t.requests)).toEqual([121, 60]);
  });

  it('prunes aggregates past rollup_retention_days', () => {
    seed();
    const retention = new Retention(db, { retentionDays: 1, rollupRetentionDays: 2 });
    retention.runAll(T0 + 10 * DAY_MS);
    for (const table of [
      'telemetry_requests_hourly',
      'telemetry_usage_hourly',
      'telemetry_children_hourly',
    ]) {
      expect(db.prepare(`SELECT count(*) AS n FROM ${table}`).get()).toEqual({ n: 0 });
    }
  });
});
