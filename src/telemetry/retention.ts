import type Database from 'better-sqlite3';
import { addToBuckets, emptyBuckets } from './latency.js';
import { ADD_USAGE_ON_CONFLICT, ensureTelemetrySchema } from './schema.js';
import { floorTo, HOUR_MS } from './time-window.js';

export const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** Raw rows older than this are rolled up into hourly aggregates. */
  retentionDays: number;
  /** Hourly aggregates older than this are deleted. */
  rollupRetentionDays: number;
  /** Rows per step (one short transaction each). */
  chunkRows?: number;
}

export interface RawRequest {
  id: number;
  ts: number;
  tenant: string;
  method: string;
  name: string;
  outcome: string;
  latency_us: number;
  request_bytes: number;
  response_bytes: number;
}

interface HourlyRequest {
  tenant: string;
  hour: number;
  method: string;
  name: string;
  outcome: string;
  count: number;
  latency_us_sum: number;
  latency_us_max: number;
  latency_buckets: string;
  request_bytes: number;
  response_bytes: number;
}

/** Raw requests of one tenant, hour, method, name and outcome, added up; latencies as bucket counts. */
export interface RequestGroup extends Omit<HourlyRequest, 'latency_buckets'> {
  buckets: number[];
}

/** Adds raw request rows up per hour (the same buckets as `/metrics`, see latency.ts). */
export function groupRequestsByHour(rows: readonly RawRequest[]): RequestGroup[] {
  const groups = new Map<string, RequestGroup>();
  for (const row of rows) {
    const hour = floorTo(row.ts, HOUR_MS);
    const key = JSON.stringify([row.tenant, hour, row.method, row.name, row.outcome]);
    let group = groups.get(key);
    if (!group) {
      group = {
        ...{ tenant: row.tenant, hour, method: row.method, name: row.name, outcome: row.outcome },
        count: 0,
        latency_us_sum: 0,
        latency_us_max: 0,
        request_bytes: 0,
        response_bytes: 0,
        buckets: emptyBuckets(),
      };
      groups.set(key, group);
    }
    group.count += 1;
    group.latency_us_sum += row.latency_us;
    group.latency_us_max = Math.max(group.latency_us_max, row.latency_us);
    addToBuckets(group.buckets, row.latency_us / 1000);
    group.request_bytes += row.request_bytes;
    group.response_bytes += row.response_bytes;
  }
  return [...groups.values()];
}

type UsageRow = Record<string, number | string | null> & { rid: number; minute: number };
type ChildRow = {
  id: number;
  ts: number;
  tenant: string;
  event: string;
  start_ms: number | null;
  restart: number;
  crashed: number;
  limit_kind: string | null;
};

const HOURLY_TABLES = [
  'telemetry_requests_hourly',
  'telemetry_usage_hourly',
  'telemetry_children_hourly',
] as const;

function prepare(db: Database.Database) {
  return {
    oldRequests: db.prepare<[number, number], RawRequest>(
      `SELECT id, ts, tenant, method, name, outcome, latency_us, request_bytes, response_bytes
       FROM telemetry_requests WHERE ts < ? ORDER BY ts LIMIT ?`,
    ),
    hourlyRequest: db.prepare<[string, number, string, string, string], HourlyRequest>(
      `SELECT * FROM telemetry_requests_hourly
       WHERE tenant = ? AND hour = ? AND method = ? AND name = ? AND outcome = ?`,
    ),
    putHourlyRequest: db.prepare(
      `INSERT OR REPLACE INTO telemetry_requests_hourly
       (tenant, hour, method, name, outcome, count, latency_us_sum, latency_us_max, latency_buckets, request_bytes, response_bytes)
       VALUES (@tenant, @hour, @method, @name, @outcome, @count, @latency_us_sum, @latency_us_max, @latency_buckets, @request_bytes, @response_bytes)`,
    ),
    deleteRequest: db.prepare('DELETE FROM telemetry_requests WHERE id = ?'),
    oldUsage: db.prepare<[number, number], UsageRow>(
      'SELECT rowid AS rid, * FROM telemetry_usage WHERE minute < ? ORDER BY minute LIMIT ?',
    ),
    addHourlyUsage: db.prepare(
      `INSERT INTO telemetry_usage_hourly (tenant, hour, cpu_seconds, rss_byte_seconds, sampled_seconds,
         rss_peak, samples, tool_calls, tool_errors, tool_ms, db_bytes, db_rows)
       VALUES (@tenant, @hour, @cpu_seconds, @rss_byte_seconds, @sampled_seconds,
         @rss_peak, @samples, @tool_calls, @tool_errors, @tool_ms, @db_bytes, @db_rows)
       ON CONFLICT (tenant, hour) DO UPDATE SET ${ADD_USAGE_ON_CONFLICT}`,
    ),
    deleteUsage: db.prepare('DELETE FROM telemetry_usage WHERE rowid = ?'),
    oldChildren: db.prepare<[number, number], ChildRow>(
      'SELECT * FROM telemetry_children WHERE ts < ? ORDER BY ts LIMIT ?',
    ),
    addHourlyChildren: db.prepare(
      `INSERT INTO telemetry_children_hourly (tenant, hour, starts, restarts, crashes, limit_kills, start_ms_sum, start_ms_max)
       VALUES (@tenant, @hour, @starts, @restarts, @crashes, @limit_kills, @start_ms, @start_ms)
       ON CONFLICT (tenant, hour) DO UPDATE SET
         starts = starts + excluded.starts,
         restarts = restarts + excluded.restarts,
         crashes = crashes + excluded.crashes,
         limit_kills = limit_kills + excluded.limit_kills,
         start_ms_sum = start_ms_sum + excluded.start_ms_sum,
         start_ms_max = max(start_ms_max, excluded.start_ms_max)`,
    ),
    deleteChild: db.prepare('DELETE FROM telemetry_children WHERE id = ?'),
    prune: HOURLY_TABLES.map((table) =>
      db.prepare(
        `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE hour < ? LIMIT ?)`,
      ),
    ),
  };
}

/**
 * Keeps the database bounded without ever holding it for long: each `step()`
 * moves at most `chunkRows` raw rows older than the retention cutoff into
 * hourly aggregates (one short transaction), or prunes old aggregates.
 * Totals are preserved: an aggregate adds up exactly what it replaces
 * (latencies become histogram buckets, so percentiles become estimates).
 */
export class Retention {
  private readonly chunk: number;
  private readonly statements: ReturnType<typeof prepare>;

  constructor(
    private readonly db: Database.Database,
    private readonly options: RetentionOptions,
  ) {
    ensureTelemetrySchema(db);
    this.chunk = options.chunkRows ?? 2_000;
    this.statements = prepare(db);
  }

  /** One bounded unit of work; returns how many rows it handled (0: nothing to do). */
  step(now: number): number {
    const cutoff = floorTo(now - this.options.retentionDays * DAY_MS, HOUR_MS);
    return (
      this.rollUpRequests(cutoff) ||
      this.rollUpUsage(cutoff) ||
      this.rollUpChildren(cutoff) ||
      this.prune(floorTo(now - this.options.rollupRetentionDays * DAY_MS, HOUR_MS))
    );
  }

  /** Runs steps until nothing is left. */
  runAll(now: number): number {
    let total = 0;
    for (let done = this.step(now); done > 0; done = this.step(now)) total += done;
    return total;
  }

  private rollUpRequests(cutoff: number): number {
    const rows = this.statements.oldRequests.all(cutoff, this.chunk);
    if (rows.length === 0) return 0;
    const groups = groupRequestsByHour(rows);
    this.db.transaction(() => {
      for (const { buckets, ...row } of groups) {
        const existing = this.statements.hourlyRequest.get(
          row.tenant,
          row.hour,
          row.method,
          row.name,
          row.outcome,
        );
        const before = existing ? (JSON.parse(existing.latency_buckets) as number[]) : [];
        this.statements.putHourlyRequest.run({
          ...row,
          count: row.count + (existing?.count ?? 0),
          latency_us_sum: row.latency_us_sum + (existing?.latency_us_sum ?? 0),
          latency_us_max: Math.max(row.latency_us_max, existing?.latency_us_max ?? 0),
          latency_buckets: JSON.stringify(buckets.map((count, i) => count + (before[i] ?? 0))),
          request_bytes: row.request_bytes + (existing?.request_bytes ?? 0),
          response_bytes: row.response_bytes + (existing?.response_bytes ?? 0),
        });
      }
      for (const row of rows) this.statements.deleteRequest.run(row.id);
    })();
    return rows.length;
  }

  private rollUpUsage(cutoff: number): number {
    const rows = this.statements.oldUsage.all(cutoff, this.chunk);
    if (rows.length === 0) return 0;
    this.db.transaction(() => {
      for (const row of rows) {
        const { rid, minute, pid: _pid, ...figures } = row;
        this.statements.addHourlyUsage.run({ ...figures, hour: floorTo(minute, HOUR_MS) });
        this.statements.deleteUsage.run(rid);
      }
    })();
    return rows.length;
  }

  private rollUpChildren(cutoff: number): number {
    const rows = this.statements.oldChildren.all(cutoff, this.chunk);
    if (rows.length === 0) return 0;
    this.db.transaction(() => {
      for (const row of rows) {
        const start = row.event === 'start';
        this.statements.addHourlyChildren.run({
          tenant: row.tenant,
          hour: floorTo(row.ts, HOUR_MS),
          starts: start ? 1 : 0,
          restarts: start && row.restart === 1 ? 1 : 0,
          crashes: !start && row.crashed === 1 ? 1 : 0,
          limit_kills: !start && row.limit_kind !== null ? 1 : 0,
          start_ms: start ? (row.start_ms ?? 0) : 0,
        });
        this.statements.deleteChild.run(row.id);
      }
    })();
    return rows.length;
  }

  /** Aggregates older than `rollup_retention_days` go, a chunk at a time. */
  private prune(before: number): number {
    let total = 0;
    for (const statement of this.statements.prune)
      total += statement.run(before, this.chunk).changes;
    return total;
  }
}
