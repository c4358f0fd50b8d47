import type pg from 'pg';
import type { PostgresStore } from '../store/postgres.js';
import { appendAuditPg } from './pg-audit-log.js';
import { pgInt, pgText } from './pg-rows.js';
import {
  type AuditEntry,
  type ChildRecord,
  type RequestRecord,
  sumUsage,
  type TelemetryRecord,
  type UsageDelta,
} from './records.js';

const MAX_METHOD_LENGTH = 100;
const INT4_MAX = 2 ** 31 - 1;

/** How a usage row absorbs another for the same key: as schema.ts's ADD_USAGE_ON_CONFLICT. */
export const PG_ADD_USAGE_ON_CONFLICT = `
         cpu_seconds = t.cpu_seconds + excluded.cpu_seconds,
         rss_byte_seconds = t.rss_byte_seconds + excluded.rss_byte_seconds,
         sampled_seconds = t.sampled_seconds + excluded.sampled_seconds,
         rss_peak = greatest(t.rss_peak, excluded.rss_peak),
         samples = t.samples + excluded.samples,
         tool_calls = t.tool_calls + excluded.tool_calls,
         tool_errors = t.tool_errors + excluded.tool_errors,
         tool_ms = t.tool_ms + excluded.tool_ms,
         db_bytes = coalesce(excluded.db_bytes, t.db_bytes),
         db_rows = coalesce(excluded.db_rows, t.db_rows)`;

/**
 * Writes a batch of telemetry to PostgreSQL in one transaction, a statement
 * per table (arrays unnested), as `TelemetryStore` does in SQLite. Audit
 * heads are locked first and usage rows are upserted in key order, so
 * writers on several nodes always take row locks in the same order.
 */
export class PgTelemetryStore {
  constructor(private readonly store: PostgresStore) {}

  async write(records: readonly TelemetryRecord[], usage: readonly UsageDelta[]): Promise<void> {
    if (records.length === 0 && usage.length === 0) return;
    const requests: RequestRecord[] = [];
    const children: ChildRecord[] = [];
    const audit: AuditEntry[] = [];
    for (const record of records) {
      if (record.kind === 'request') requests.push(record);
      else if (record.kind === 'child') children.push(record);
      else audit.push(record);
    }
    await this.store.transaction(async (client) => {
      await appendAuditPg(client, audit);
      await insertRequests(client, requests);
      await insertChildren(client, children);
      await addUsage(client, usage);
    });
  }
}

async function insertRequests(client: pg.PoolClient, records: RequestRecord[]): Promise<void> {
  if (records.length === 0) return;
  const column = <T>(value: (record: RequestRecord) => T) => records.map(value);
  await client.query(
    `INSERT INTO telemetry_requests
       (ts, tenant, "user", method, name, outcome, error_code, latency_us, request_bytes, response_bytes, trace_id)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
       $7::integer[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[])`,
    [
      column((r) => pgInt(r.ts)),
      column((r) => pgText(r.tenant)),
      column((r) => pgText(r.user)),
      column((r) => pgText(r.method.slice(0, MAX_METHOD_LENGTH))),
      column((r) => pgText(r.name ?? '')),
      column((r) => r.outcome),
      // A child may answer with any number as its error code; INTEGER takes what JSON-RPC means.
      column((r) =>
        r.errorCode !== null && Number.isInteger(r.errorCode) && Math.abs(r.errorCode) <= INT4_MAX
          ? r.errorCode
          : null,
      ),
      column((r) => pgInt(r.latencyUs)),
      column((r) => pgInt(r.requestBytes)),
      column((r) => pgInt(r.responseBytes)),
      column((r) => pgText(r.traceId)),
    ],
  );
}

async function insertChildren(client: pg.PoolClient, records: ChildRecord[]): Promise<void> {
  if (records.length === 0) return;
  const column = <T>(value: (record: ChildRecord) => T) => records.map(value);
  await client.query(
    `INSERT INTO telemetry_children (ts, tenant, pid, event, start_ms, restart, crashed, limit_kind, reason)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::float8[],
       $6::boolean[], $7::boolean[], $8::text[], $9::text[])`,
    [
      column((r) => pgInt(r.ts)),
      column((r) => pgText(r.tenant)),
      column((r) => r.pid),
      column((r) => r.event),
      column((r) => r.startMs),
      column((r) => r.restart),
      column((r) => r.crashed),
      column((r) => pgText(r.limit)),
      column((r) => pgText(r.reason)),
    ],
  );
}

/** Per (tenant, minute, pid), summed: one upsert may not touch a row twice. */
function mergeUsage(usage: readonly UsageDelta[]): UsageDelta[] {
  const merged = new Map<string, UsageDelta>();
  for (const delta of usage) {
    const tenant = pgText(delta.tenant);
    const key = JSON.stringify([tenant, delta.minute, delta.pid]);
    const into = merged.get(key);
    if (!into) {
      merged.set(key, { ...delta, tenant });
      continue;
    }
    sumUsage(into, delta, true);
  }
  return [...merged.values()].sort(
    (a, b) =>
      (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0) ||
      a.minute - b.minute ||
      a.pid - b.pid,
  );
}

async function addUsage(client: pg.PoolClient, usage: readonly UsageDelta[]): Promise<void> {
  if (usage.length === 0) return;
  const rows = mergeUsage(usage);
  const column = <T>(value: (delta: UsageDelta) => T) => rows.map(value);
  await client.query(
    `INSERT INTO telemetry_usage AS t (tenant, minute, pid, cpu_seconds, rss_byte_seconds,
       sampled_seconds, rss_peak, samples, tool_calls, tool_errors, tool_ms, db_bytes, db_rows)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::float8[], $5::float8[],
       $6::float8[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::float8[],
       $12::bigint[], $13::bigint[])
     ON CONFLICT (tenant, minute, pid) DO UPDATE SET ${PG_ADD_USAGE_ON_CONFLICT}`,
    [
      column((d) => d.tenant),
      column((d) => pgInt(d.minute)),
      column((d) => d.pid),
      column((d) => d.cpuSeconds),
      column((d) => d.rssByteSeconds),
      column((d) => d.sampledSeconds),
      column((d) => pgInt(d.rssPeak)),
      column((d) => pgInt(d.samples)),
      column((d) => pgInt(d.toolCalls)),
      column((d) => pgInt(d.toolErrors)),
      column((d) => d.toolMs),
      column((d) => pgInt(d.dbBytes)),
      column((d) => pgInt(d.dbRows)),
    ],
  );
}
