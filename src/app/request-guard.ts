import { PgRevocationFeed } from '../auth/pg-revocations.js';
import { type RevocationFeed, SqliteRevocationFeed } from '../auth/revocation-feed.js';
import type { Logger } from '../core/logger.js';
import { type RequestStage, tracedStage } from '../core/pipeline.js';
import { ListCursors } from '../policy/list-cursor.js';
import { ListingCatalog } from '../policy/listing-catalog.js';
import { OverCapRecorder } from '../policy/over-cap.js';
import { policyStage } from '../policy/policy-stage.js';
import { tenantDataDir } from '../process/spawn-plan.js';
import { ConcurrencyLimiter } from '../quota/concurrency.js';
import { CounterStore } from '../quota/counter-store.js';
import { PgCounters } from '../quota/pg-counters.js';
import { quotaStage } from '../quota/quota-stage.js';
import { SharedCounters, type UsageCounters } from '../quota/shared-counters.js';
import { StorageSampler } from '../quota/storage-sampler.js';
import type { StoreBackend } from '../store/backend.js';

export interface RequestGuardOptions {
  store: StoreBackend;
  log: Logger;
  /** The manifest's `server.data_dir`, read when a tenant's folder is measured. */
  dataDir: () => string;
  /** The manifest's `server.max_uri_length`, read per request. */
  maxUriLength: () => number;
}

/**
 * Permissions, revocations and quotas for every tenant's requests, with the
 * state they keep (the `jti` deny list and usage counters in the store,
 * slots and listings in memory), on SQLite or PostgreSQL alike. `close()`
 * writes the counters still pending; call it before the store closes.
 */
export class RequestGuard {
  readonly revocations: RevocationFeed;
  readonly stages: readonly RequestStage[];
  private readonly counters: UsageCounters;
  private readonly overCap: OverCapRecorder;

  constructor(options: RequestGuardOptions) {
    const { store, log } = options;
    if (store.kind === 'sqlite') {
      this.revocations = new SqliteRevocationFeed(store.db, log);
      this.counters = new SharedCounters({ store: new CounterStore(store.db), log });
      this.overCap = new OverCapRecorder(store.db, log);
    } else {
      this.revocations = new PgRevocationFeed({ pg: store.pg, log });
      this.counters = new PgCounters({ pg: store.pg, log });
      this.overCap = new OverCapRecorder(store.pg, log);
    }
    const catalog = new ListingCatalog();
    // Each with a span of its own on a traced request (its decision, up to passing the request on).
    this.stages = [
      tracedStage(
        'policy',
        policyStage({
          cursors: new ListCursors(),
          catalog,
          overCap: this.overCap,
          maxUriLength: options.maxUriLength,
        }),
      ),
      tracedStage(
        'quota',
        quotaStage({
          counters: this.counters,
          slots: new ConcurrencyLimiter(),
          storage: new StorageSampler(),
          readOnlyTools: catalog,
          tenantDir: (tenantId) => tenantDataDir(options.dataDir(), tenantId),
        }),
      ),
    ];
  }

  /**
   * Resolves once the deny list is known (at once on SQLite; on PostgreSQL
   * after its first read, before which a token check is refused as
   * STORE_UNAVAILABLE rather than let through).
   */
  ready(): Promise<void> {
    return this.revocations.ready();
  }

  /** Calls `listener` with each jti revoked from now on (by any process sharing the store). */
  onRevoked(listener: (jti: string) => void): () => void {
    return this.revocations.onRevoked(listener);
  }

  /** Stops watching for revocations (sessions are gone) and writes what the counters and records hold. */
  async close(): Promise<void> {
    await this.revocations.close();
    await this.counters.close();
    await this.overCap.close();
  }
}
