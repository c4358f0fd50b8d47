import type Database from 'better-sqlite3';
import { AuditAppender } from './audit-log.js';
import type {
  AuditEntry,
  ChildRecord,
  RequestRecord,
  TelemetryRecord,
  UsageDelta,
} from './records.js';
import { ADD_USAGE_ON_CONFLICT, ensureTelemetrySchema } from './schema.js';

const MAX_METHOD_LENGTH = 100;

/**
 * SQLite result codes that say the database cannot be written now, whatever
 * the rows: waiting helps, dropping rows would not.
 */
const UNAVAILABLE =
  /^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN|NOMEM|PROTOCOL|CORRUPT|NOTADB|PERM|AUTH)/;

/** Whether a failed write is the store's fault (keep the rows) rather than a row's (drop it). */
export function isStoreUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return UNAVAILABLE.test(code);
  // better-sqlite3's words for a closed connection.
  return error instanceof TypeError && /database connection is not open/.test(error.message);
}

/** Writes a batch of telemetry in one transaction. Records hold plain fields and sizes only. */
export class TelemetryStore {
  private readonly insertRequest: Database.Statement;
  private readonly insertChild: Database.Statement;
  private readonly addUsage: Database.Statement;
  private readonly audit: AuditAppender;
  private readonly writeAll: Database.Transaction<
    (records: readonly TelemetryRecord[], usage: readonly UsageDelta[]) => void
  >;

  constructor(db: Database.Database) {
    ensureTelemetrySchema(db);
    this.insertRequest = db.prepare(
      `INSERT INTO telemetry_requests
        (ts, tenant, user, method, name, outcome, error_code, latency_us, request_bytes, response_bytes, trace_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertChild = db.prepare(
      `INSERT INTO telemetry_children (ts, tenant, pid, event, start_ms, restart, crashed, limit_kind, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.addUsage = db.prepare(
      `INSERT INTO telemetry_usage (tenant, minute, pid, cpu_seconds, rss_byte_seconds, sampled_seconds,
         rss_peak, samples, tool_calls, tool_errors, tool_ms, db_bytes, db_rows)
       VALUES (@tenant, @minute, @pid, @cpuSeconds, @rssByteSeconds, @sampledSeconds,
         @rssPeak, @samples, @toolCalls, @toolErrors, @toolMs, @dbBytes, @dbRows)
       ON CONFLICT (tenant, minute, pid) DO UPDATE SET ${ADD_USAGE_ON_CONFLICT}`,
    );
    this.audit = new AuditAppender(db);
    this.writeAll = db.transaction((records, usage) => {
      const audit: AuditEntry[] = [];
      for (const record of records) {
        if (record.kind === 'request') this.request(record);
        else if (record.kind === 'child') this.child(record);
        else audit.push(record);
      }
      for (const delta of usage) this.addUsage.run(delta);
      if (audit.length > 0) this.audit.append(audit);
    });
  }

  /** One transaction (BEGIN IMMEDIATE: the chain heads must not move under us). */
  write(records: readonly TelemetryRecord[], usage: readonly UsageDelta[]): void {
    if (records.length === 0 && usage.length === 0) return;
    this.writeAll.immediate(records, usage);
  }

  private request(record: RequestRecord): void {
    this.insertRequest.run(
      record.ts,
      record.tenant,
      record.user,
      record.method.slice(0, MAX_METHOD_LENGTH),
      record.name ?? '',
      record.outcome,
      record.errorCode,
      record.latencyUs,
      record.requestBytes,
      record.responseBytes,
      record.traceId,
    );
  }

  private child(record: ChildRecord): void {
    this.insertChild.run(
      record.ts,
      record.tenant,
      record.pid,
      record.event,
      record.startMs,
      record.restart ? 1 : 0,
      record.crashed ? 1 : 0,
      record.limit,
      record.reason,
    );
  }
}
