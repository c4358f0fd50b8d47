import type { ChildEvents } from '../core/child-events.js';
import type { TelemetryConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import type { StoreBackend } from '../store/backend.js';
import { BatchWriter } from './batch-writer.js';
import { TelemetryMetrics } from './metrics.js';
import { PgRetention } from './pg-retention.js';
import { isPgStoreUnavailable } from './pg-rows.js';
import { PgTelemetryStore } from './pg-telemetry-store.js';
import { type RecentFigures, RecentTraffic } from './recent-figures.js';
import type { AuditEntry, TelemetryRecord, UsageDelta } from './records.js';
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
  /** Labels on every /metrics series: `{ node }` on a node of a cluster. */
  metricLabels?: Readonly<Record<string, string>>;
}

/**
 * Where telemetry goes: SQLite answers synchronously (a flush is done when
 * it returns), PostgreSQL with promises (one per batch, never per record).
 */
interface TelemetryBackend {
  write(
    records: readonly TelemetryRecord[],
    usage: readonly UsageDelta[],
  ): Promise<void> | undefined;
  isUnavailable(error: unknown): boolean;
  /** One bounded retention step; how many rows it handled. */
  retentionStep(now: number): number | Promise<number>;
}

function backendFor(options: TelemetryOptions): TelemetryBackend {
  const retention = {
    retentionDays: options.config.retention_days,
    rollupRetentionDays: options.config.rollup_retention_days,
  };
  const store = options.store;
  if (store.kind === 'sqlite') {
    const writer = new TelemetryStore(store.db);
    const rollup = new Retention(store.db, retention);
    return {
      write: (records, usage) => {
        writer.write(records, usage);
        return undefined;
      },
      isUnavailable: isStoreUnavailable,
      retentionStep: (now) => rollup.step(now),
    };
  }
  const writer = new PgTelemetryStore(store.pg);
  const rollup = new PgRetention(store.pg, retention);
  return {
    // Every tick writes an empty batch: no transaction for it.
    write: (records, usage) =>
      records.length === 0 && usage.length === 0 ? undefined : writer.write(records, usage),
    isUnavailable: isPgStoreUnavailable,
    retentionStep: (now) => rollup.step(now),
  };
}

/** What callers give to record an audit event; time and kind are filled in. */
export type AuditEvent = Omit<AuditEntry, 'kind' | 'ts'>;

/**
 * Telemetry of one supervisor: the request stage, the consumer of child
 * events, the audit trail and `/metrics`, all feeding one batch writer.
 * `close()` writes what is left; the database is the caller's to close.
 */
export class Telemetry {
  readonly metrics: TelemetryMetrics;
  readonly stage: RequestStage;
  readonly events: Required<Pick<ChildEvents, 'started' | 'exited' | 'sampled' | 'message'>>;
  private readonly writer: BatchWriter<TelemetryRecord>;
  private readonly meter: UsageMeter;
  private readonly refusals: TokenRefusals;
  private readonly backend: TelemetryBackend;
  private readonly maintenance: NodeJS.Timeout;
  private readonly firstMaintenance: NodeJS.Timeout;
  private readonly recent: RecentTraffic;
  private readonly now: () => number;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The retention run under way, awaited by `close()`. */
  private maintaining: Promise<void> | undefined;

  constructor(private readonly options: TelemetryOptions) {
    this.metrics = new TelemetryMetrics(options.metricLabels);
    const { config, log } = options;
    this.now = options.now ?? Date.now;
    this.recent = new RecentTraffic(this.now);
    const backend = backendFor(options);
    this.backend = backend;
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
        const putBack = (error: unknown): never => {
          this.meter.putBack(usage);
          throw error;
        };
        let written: Promise<void> | undefined;
        try {
          written = backend.write(batch, usage);
        } catch (error) {
          putBack(error);
        }
        return written?.catch(putBack);
      },
      isUnavailable: backend.isUnavailable,
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

  /** Writes everything queued now (tests; shutdown does it by itself); PostgreSQL: when it resolves. */
  flush(): Promise<void> | undefined {
    return this.writer.flush();
  }

  /** Stops the timers and writes what is left; resolves once written. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    clearInterval(this.maintenance);
    clearTimeout(this.firstMaintenance);
    // SQLite: written before close() returns; a retention run under way is awaited.
    const written = this.writer.close();
    this.closing = Promise.all([written, this.maintaining]).then(() => undefined);
    return this.closing;
  }

  /** Rollup and pruning, unless a run is still under way. */
  private maintain(): void {
    if (this.maintaining || this.closed) return;
    this.maintaining = this.runMaintenance().finally(() => {
      this.maintaining = undefined;
    });
  }

  /**
   * One short transaction per step, the event loop free between steps; a
   * step that fails is retried on the next round. Never rejects.
   */
  private async runMaintenance(): Promise<void> {
    try {
      while (!this.closed) {
        if ((await this.backend.retentionStep(this.now())) === 0) return;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.options.log.warn('telemetry retention step failed; retrying in a minute', {
        error: messageOf(error),
      });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
