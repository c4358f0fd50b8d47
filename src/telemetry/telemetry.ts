import type { ChildEvents } from '../core/child-events.js';
import type { TelemetryConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import type { StoreBackend } from '../store/backend.js';
import { BatchWriter } from './batch-writer.js';
import { TelemetryMetrics } from './metrics.js';
import { type RecentFigures, RecentTraffic } from './recent-figures.js';
import type { AuditEntry, TelemetryRecord } from './records.js';
import { telemetryStage } from './request-stage.js';
import { Retention } from './retention.js';
import { isStoreUnavailable, TelemetryStore } from './telemetry-store.js';
import { type RefusalInput, TokenRefusals } from './token-refusal.js';
import { UsageMeter } from './usage-meter.js';

/**
 * How often old rows are rolled up and pruned; the first time soon after
 * start, for short-lived supervisors (`serve --stdio` per desktop session).
 */
const MAINTENANCE_INTERVAL_MS = 60_000;
const FIRST_MAINTENANCE_MS = 5_000;

export interface TelemetryOptions {
  store: StoreBackend;
  config: TelemetryConfig;
  log: Logger;
  /** Is this a tenant of the running manifest? (Token refusals of others go to the supervisor's chain.) */
  isTenant: (id: string) => boolean;
  now?: () => number;
}

/** What callers give to record an audit event; time and kind are filled in. */
export type AuditEvent = Omit<AuditEntry, 'kind' | 'ts'>;

/**
 * Telemetry of one supervisor: the request stage, the consumer of child
 * events, the audit trail and `/metrics`, all feeding one batch writer.
 * `close()` writes what is left; the database is the caller's to close.
 */
export class Telemetry {
  readonly metrics = new TelemetryMetrics();
  readonly stage: RequestStage;
  readonly events: Required<Pick<ChildEvents, 'started' | 'exited' | 'sampled' | 'message'>>;
  private readonly writer: BatchWriter<TelemetryRecord>;
  private readonly meter: UsageMeter;
  private readonly refusals: TokenRefusals;
  private readonly retention: Retention;
  private readonly maintenance: NodeJS.Timeout;
  private readonly firstMaintenance: NodeJS.Timeout;
  private readonly recent: RecentTraffic;
  private readonly now: () => number;
  private closed = false;
  private maintaining = false;

  constructor(private readonly options: TelemetryOptions) {
    const { config, log } = options;
    this.now = options.now ?? Date.now;
    this.recent = new RecentTraffic(this.now);
    if (options.store.kind !== 'sqlite') throw new Error('PostgreSQL: not yet');
    const db = options.store.db;
    const store = new TelemetryStore(db);
    this.retention = new Retention(db, {
      retentionDays: config.retention_days,
      rollupRetentionDays: config.rollup_retention_days,
    });
    this.meter = new UsageMeter({
      now: this.now,
      record: (record) => {
        if (record.event === 'start') {
          this.metrics.childStarted(record.tenant, record.startMs ?? 0, record.restart);
        } else {
          this.metrics.childExited(record.tenant, record.crashed, record.limit);
        }
        this.writer.push(record);
      },
      onSample: (tenant, cpu) => this.metrics.cpu(tenant, cpu),
    });
    this.writer = new BatchWriter<TelemetryRecord>({
      intervalMs: config.flush_interval_ms,
      maxRows: config.flush_rows,
      write: (batch) => {
        const usage = this.meter.drain();
        try {
          store.write(batch, usage);
        } catch (error) {
          this.meter.putBack(usage);
          throw error;
        }
      },
      isUnavailable: isStoreUnavailable,
      onError: (error, pending) =>
        log.warn('telemetry write failed; retrying on the next flush', {
          error: messageOf(error),
          pending,
        }),
      onDropped: (records, error) => {
        for (const record of records) this.metrics.telemetryDropped(record.tenant);
        log.warn('telemetry records could not be written; dropped', {
          error: messageOf(error),
          dropped: records.length,
          dropped_total: this.writer.dropped,
        });
      },
    });
    this.stage = telemetryStage(
      {
        request: (record) => {
          this.metrics.request(
            record.tenant,
            record.method,
            record.outcome,
            record.latencyUs / 1000,
            record.name,
          );
          this.recent.add(record.tenant, record.outcome, record.latencyUs / 1000);
          this.metrics.bytes(record.tenant, record.requestBytes, record.responseBytes);
          this.writer.push(record);
        },
        audit: (entry) => this.writer.push(entry),
      },
      this.now,
    );
    const meter = this.meter;
    this.events = {
      started: (tenant, event) => meter.started(tenant, event),
      exited: (tenant, event) => meter.exited(tenant, event),
      sampled: (tenant, event) => meter.sampled(tenant, event),
      message: (tenant, event) => meter.message(tenant, event),
    };
    this.refusals = new TokenRefusals(options.isTenant);
    this.maintenance = setInterval(() => this.maintain(), MAINTENANCE_INTERVAL_MS);
    this.maintenance.unref();
    this.firstMaintenance = setTimeout(() => this.maintain(), FIRST_MAINTENANCE_MS);
    this.firstMaintenance.unref();
  }

  /** Records an audit event (admin action, tenant added/removed/reloaded, ...). */
  audit(event: AuditEvent): void {
    this.writer.push({ kind: 'audit', ts: this.now(), ...event });
  }

  /** A manifest reload: each tenant added, removed or changed gets a row in its chain. */
  manifestReloaded(diff: { added: string[]; removed: string[]; changed: string[] }): void {
    const kinds = [
      ['tenant_added', diff.added],
      ['tenant_removed', diff.removed],
      ['tenant_reloaded', diff.changed],
    ] as const;
    for (const [action, tenants] of kinds) {
      for (const tenant of tenants) {
        this.audit({
          tenant,
          actor: 'manifest',
          action,
          target: tenant,
          outcome: 'ok',
          detail: null,
        });
      }
    }
  }

  /** A bearer token was refused; recorded in the audit trail, bounded per minute. */
  tokenRefused(input: Omit<RefusalInput, 'now'>): void {
    const entry = this.refusals.entry({ ...input, now: this.now() });
    if (entry) this.writer.push(entry);
  }

  /** The last minutes of a tenant's traffic, for the status page. */
  recentFigures(tenant: string): RecentFigures | undefined {
    return this.recent.figures(tenant);
  }

  /** Writes everything queued now (tests; shutdown does it by itself). */
  flush(): void {
    this.writer.flush();
  }

  /** Stops the timers and writes what is left. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.maintenance);
    clearTimeout(this.firstMaintenance);
    this.writer.close();
  }

  /** Rollup and pruning, one short transaction per turn of the event loop. */
  private maintain(): void {
    if (this.maintaining) return;
    this.maintaining = true;
    const step = (): void => {
      let more = false;
      try {
        more = !this.closed && this.retention.step(this.now()) > 0;
      } catch (error) {
        this.options.log.warn('telemetry retention step failed; retrying in a minute', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      if (more) setImmediate(step);
      else this.maintaining = false;
    };
    step();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
