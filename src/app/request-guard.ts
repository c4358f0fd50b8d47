import { RevocationWatch } from '../auth/revocation-watch.js';
import { RevocationList } from '../auth/revocations.js';
import type { Logger } from '../core/logger.js';
import type { RequestStage } from '../core/pipeline.js';
import { ListCursors } from '../policy/list-cursor.js';
import { ListingCatalog } from '../policy/listing-catalog.js';
import { OverCapRecorder } from '../policy/over-cap.js';
import { policyStage } from '../policy/policy-stage.js';
import { tenantDataDir } from '../process/spawn-plan.js';
import { ConcurrencyLimiter } from '../quota/concurrency.js';
import { CounterStore } from '../quota/counter-store.js';
import { quotaStage } from '../quota/quota-stage.js';
import { SharedCounters } from '../quota/shared-counters.js';
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
 * state they keep (the `jti` deny list and usage counters in the
 * supervisor's database, slots and listings in memory). `close()` writes
 * the counters still pending; call it before the database closes.
 */
export class RequestGuard {
  readonly revocations: RevocationList;
  readonly stages: readonly RequestStage[];
  private readonly counters: SharedCounters;
  private readonly revocationWatch: RevocationWatch;

  constructor(options: RequestGuardOptions) {
    if (options.store.kind !== 'sqlite') throw new Error('PostgreSQL: not yet');
    const db = options.store.db;
    this.revocations = new RevocationList(db);
    this.revocationWatch = new RevocationWatch(this.revocations, options.log);
    this.counters = new SharedCounters({ store: new CounterStore(db), log: options.log });
    const catalog = new ListingCatalog();
    this.stages = [
      policyStage({
        cursors: new ListCursors(),
        catalog,
        overCap: new OverCapRecorder(db, options.log),
        maxUriLength: options.maxUriLength,
      }),
      quotaStage({
        counters: this.counters,
        slots: new ConcurrencyLimiter(),
        storage: new StorageSampler(),
        readOnlyTools: catalog,
        tenantDir: (tenantId) => tenantDataDir(options.dataDir(), tenantId),
      }),
    ];
  }

  /** Calls `listener` with each jti revoked from now on (by any process sharing the store). */
  onRevoked(listener: (jti: string) => void): () => void {
    return this.revocationWatch.onRevoked(listener);
  }

  /** Stops watching for revocations (sessions are gone) and writes the counters still pending. */
  async close(): Promise<void> {
    this.revocationWatch.close();
    this.counters.close();
  }
}
