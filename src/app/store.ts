import { REVOCATION_MIGRATIONS } from '../auth/pg-migrations.js';
import { CLUSTER_MIGRATIONS } from '../cluster/pg-migrations.js';
import type { Manifest } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { QUOTA_MIGRATIONS } from '../quota/pg-migrations.js';
import type { StoreBackend } from '../store/backend.js';
import { openSupervisorDatabase } from '../store/database.js';
import { isCurrent, type Migration, migrate } from '../store/migrations.js';
import { PostgresStore } from '../store/postgres.js';
import { openForReading } from '../store/read-database.js';
import { TENANT_DATA_MIGRATIONS } from '../store/tenant-data-migrations.js';
import { TELEMETRY_MIGRATIONS } from '../telemetry/pg-migrations.js';

/** Every concern's PostgreSQL migrations; each component's versions apply in order. */
export const MIGRATIONS: readonly Migration[] = [
  ...CLUSTER_MIGRATIONS,
  ...QUOTA_MIGRATIONS,
  ...REVOCATION_MIGRATIONS,
  ...TELEMETRY_MIGRATIONS,
  ...TENANT_DATA_MIGRATIONS,
];

export interface OpenStoreOptions {
  log: Logger;
  /** `serve` or the operator command, for PostgreSQL's application_name. */
  purpose: string;
  /** The embedded store only: open read-only (report, audit), failing if it does not exist yet. */
  readonly?: boolean;
}

/**
 * Opens the manifest's store: the embedded SQLite database, or PostgreSQL
 * with every migration applied (several nodes starting at once migrate once).
 */
export async function openStore(
  manifest: Manifest,
  options: OpenStoreOptions,
): Promise<StoreBackend> {
  const store = manifest.server.store;
  if (store.kind === 'sqlite') {
    const dataDir = manifest.server.data_dir;
    const db = options.readonly ? openForReading(dataDir) : openSupervisorDatabase(dataDir);
    return { kind: 'sqlite', db };
  }
  const pg = await PostgresStore.open(store.url, {
    log: options.log,
    applicationName: `mcp-tenants ${options.purpose}`,
  });
  try {
    // A reading command needs no DDL rights once the schema is current.
    if (options.readonly && (await isCurrent(pg, MIGRATIONS))) return { kind: 'postgres', pg };
    const applied = await migrate(pg, MIGRATIONS);
    if (applied.length > 0) {
      options.log.info('PostgreSQL store migrated', {
        store: pg.where,
        applied: applied.join(', '),
      });
    }
  } catch (error) {
    await pg.close();
    throw pg.explain(error);
  }
  return { kind: 'postgres', pg };
}

export async function closeStore(backend: StoreBackend): Promise<void> {
  if (backend.kind === 'sqlite') backend.db.close();
  else await backend.pg.close();
}
