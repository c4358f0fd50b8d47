import type pg from 'pg';
import { lockKey } from '../store/migrations.js';
import type { PostgresStore } from '../store/postgres.js';
import { pgRows } from './pg-rows.js';
import { PG_ADD_USAGE_ON_CONFLICT } from './pg-telemetry-store.js';
import {
  DAY_MS,
  groupRequestsByHour,
  type RawRequest,
  type RetentionOptions,
} from './retention.js';
import { floorTo, HOUR_MS } from './time-window.js';

/** Any constant: the node that holds it does the step; the others skip it. */

/** Epoch ms of a BIGINT `ts`, floored to the hour, in SQL. */
const HOUR_OF = (column: string) => `(${column} - ${column} % ${HOUR_MS})`;

const HOURLY_TABLES = [
  'telemetry_requests_hourly',
  'telemetry_usage_hourly',
  'telemetry_children_hourly',
] as const;

/**
 * The rollup and pruning of retention.ts on PostgreSQL, by the same rules:
 * each `step()` moves at most `chunkRows` raw rows older than the cutoff
 * into hourly aggregates, or prunes old aggregates, in one short
 * transaction. Every node runs it; the one that gets the advisory lock
 * does the work and the others find it taken and skip the turn, so
 * aggregates are never added to twice.
 */
export class PgRetention {
  private readonly chunk: number;

  constructor(
    private readonly store: PostgresStore,
    private readonly options: RetentionOptions,
  ) {
    this.chunk = options.chunkRows ?? 2_000;
  }

  /** One bounded unit of work; how many rows it handled (0: nothing to do, or another node is on it). */
  step(now: number): Promise<number> {
    const cutoff = floorTo(now - this.options.retentionDays * DAY_MS, HOUR_MS);
    const pruneBefore = floorTo(now - this.options.rollupRetentionDays * DAY_MS, HOUR_MS);
    return this.store.transaction(async (client) => {
      const [lock] = await pgRows<{ locked: boolean }>(
        client,
        `SELECT pg_try_advisory_xact_lock(${lockKey("'telemetry retention'")}) AS locked`,
        [],
      );
      if (!lock?.locked) return 0;
      return (
        (await this.rollUpRequests(client, cutoff)) ||
        (await this.rollUpUsage(client, cutoff)) ||
        (await this.rollUpChildren(client, cutoff)) ||
        (await this.prune(client, pruneBefore))
      );
    });
  }

  /** Runs steps until nothing is left. */
  async runAll(now: number): Promise<number> {
    let total = 0;
    for (let done = await this.step(now); done > 0; done = await this.step(now)) total += done;
    return total;
  }

  /** Raw requests are added up here (latency buckets as in SQLite), then merged in SQL. */
  private async rollUpRequests(client: pg.PoolClient, cutoff: number): Promise<number> {
    const rows = await pgRows<RawRequest>(
      client,
      `DELETE FROM telemetry_requests WHERE id IN (
         SELECT id FROM telemetry_requests WHERE ts < $1 ORDER BY ts LIMIT $2)
       RETURNING id, ts, tenant, method, name, outcome, latency_us, request_bytes, response_bytes`,
      [cutoff, this.chunk],
    );
    if (rows.length === 0) return 0;
    const groups = groupRequestsByHour(rows);
    const column = <T>(value: (group: (typeof groups)[number]) => T) => groups.map(value);
    // Buckets travel as JSON text: unnest would flatten an array of arrays.
    await client.query(
      `INSERT INTO telemetry_requests_hourly AS t (tenant, hour, method, name, outcome, count,
         latency_us_sum, latency_us_max, latency_buckets, request_bytes, response_bytes)
       SELECT g.tenant, g.hour, g.method, g.name, g.outcome, g.count, g.latency_us_sum,
         g.latency_us_max,
         ARRAY(SELECT e.value::bigint FROM jsonb_array_elements_text(g.buckets::jsonb)
           WITH ORDINALITY AS e (value, n) ORDER BY e.n),
         g.request_bytes, g.response_bytes
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[],
         $7::bigint[], $8::bigint[], $9::text[], $10::bigint[], $11::bigint[])
         AS g (tenant, hour, method, name, outcome, count, latency_us_sum, latency_us_max, buckets,
           request_bytes, response_bytes)
       ON CONFLICT (tenant, hour, method, name, outcome) DO UPDATE SET
         count = t.count + excluded.count,
         latency_us_sum = t.latency_us_sum + excluded.latency_us_sum,
         latency_us_max = greatest(t.latency_us_max, excluded.latency_us_max),
         latency_buckets = ARRAY(
           SELECT coalesce(a, 0) + coalesce(b, 0)
           FROM unnest(t.latency_buckets, excluded.latency_buckets) WITH ORDINALITY AS u (a, b, n)
           ORDER BY u.n),
         request_bytes = t.request_bytes + excluded.request_bytes,
         response_bytes = t.response_bytes + excluded.response_bytes`,
      [
        column((g) => g.tenant),
        column((g) => g.hour),
        column((g) => g.method),
        column((g) => g.name),
        column((g) => g.outcome),
        column((g) => g.count),
        column((g) => g.latency_us_sum),
        column((g) => g.latency_us_max),
        column((g) => JSON.stringify(g.buckets)),
        column((g) => g.request_bytes),
        column((g) => g.response_bytes),
      ],
    );
    return rows.length;
  }

  /**
   * Minutes into hours. The hour keeps the newest database size of its
   * minutes; chunks go oldest first, so a later chunk's size wins, as in SQLite.
   */
  private async rollUpUsage(client: pg.PoolClient, cutoff: number): Promise<number> {
    const [moved] = await pgRows<{ n: number }>(
      client,
      `WITH moved AS (
         DELETE FROM telemetry_usage AS u USING (
           SELECT tenant, minute, pid FROM telemetry_usage WHERE minute < $1
           ORDER BY minute LIMIT $2) AS old
         WHERE u.tenant = old.tenant AND u.minute = old.minute AND u.pid = old.pid
         RETURNING u.*),
       added AS (
         INSERT INTO telemetry_usage_hourly AS t (tenant, hour, cpu_seconds, rss_byte_seconds,
           sampled_seconds, rss_peak, samples, tool_calls, tool_errors, tool_ms, db_bytes, db_rows)
         SELECT tenant, ${HOUR_OF('minute')}, sum(cpu_seconds), sum(rss_byte_seconds),
           sum(sampled_seconds), max(rss_peak), sum(samples), sum(tool_calls), sum(tool_errors),
           sum(tool_ms),
           (array_agg(db_bytes ORDER BY minute DESC) FILTER (WHERE db_bytes IS NOT NULL))[1],
           (array_agg(db_rows ORDER BY minute DESC) FILTER (WHERE db_rows IS NOT NULL))[1]
         FROM moved GROUP BY tenant, ${HOUR_OF('minute')}
         ON CONFLICT (tenant, hour) DO UPDATE SET ${PG_ADD_USAGE_ON_CONFLICT}
         RETURNING 1)
       SELECT count(*) AS n FROM moved`,
      [cutoff, this.chunk],
    );
    return moved?.n ?? 0;
  }

  private async rollUpChildren(client: pg.PoolClient, cutoff: number): Promise<number> {
    const [moved] = await pgRows<{ n: number }>(
      client,
      `WITH moved AS (
         DELETE FROM telemetry_children WHERE id IN (
           SELECT id FROM telemetry_children WHERE ts < $1 ORDER BY ts LIMIT $2)
         RETURNING *),
       added AS (
         INSERT INTO telemetry_children_hourly AS t (tenant, hour, starts, restarts, crashes,
           limit_kills, start_ms_sum, start_ms_max)
         SELECT tenant, ${HOUR_OF('ts')},
           count(*) FILTER (WHERE event = 'start'),
           count(*) FILTER (WHERE event = 'start' AND restart),
           count(*) FILTER (WHERE event <> 'start' AND crashed),
           count(*) FILTER (WHERE event <> 'start' AND limit_kind IS NOT NULL),
           coalesce(sum(start_ms) FILTER (WHERE event = 'start'), 0),
           coalesce(max(start_ms) FILTER (WHERE event = 'start'), 0)
         FROM moved GROUP BY tenant, ${HOUR_OF('ts')}
         ON CONFLICT (tenant, hour) DO UPDATE SET
           starts = t.starts + excluded.starts,
           restarts = t.restarts + excluded.restarts,
           crashes = t.crashes + excluded.crashes,
           limit_kills = t.limit_kills + excluded.limit_kills,
           start_ms_sum = t.start_ms_sum + excluded.start_ms_sum,
           start_ms_max = greatest(t.start_ms_max, excluded.start_ms_max)
         RETURNING 1)
       SELECT count(*) AS n FROM moved`,
      [cutoff, this.chunk],
    );
    return moved?.n ?? 0;
  }

  /** Aggregates older than `rollup_retention_days` go, a chunk at a time. */
  private async prune(client: pg.PoolClient, before: number): Promise<number> {
    let total = 0;
    for (const table of HOURLY_TABLES) {
      const result = await client.query(
        `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE hour < $1 LIMIT $2)`,
        [before, this.chunk],
      );
      total += result.rowCount ?? 0;
    }
    return total;
  }
}
