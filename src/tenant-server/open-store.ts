import type { Logger } from '../core/logger.js';
import type { TenantServerOptions } from './options.js';
import type { TenantStore } from './store.js';

/**
 * Opens the store the options name. Each backend is loaded only when used,
 * so a child on SQLite never loads the PostgreSQL driver, and the other way round.
 */
export async function openTenantStore(
  options: TenantServerOptions,
  log: Logger,
): Promise<TenantStore> {
  if (options.store !== undefined) {
    const { PgTenantStore } = await import('./pg-store.js');
    return PgTenantStore.open({
      ...options.store,
      tenantId: options.tenantId,
      maxStorageMb: options.maxStorageMb,
      log,
    });
  }
  const { SqliteTenantStore } = await import('./sqlite-store.js');
  return SqliteTenantStore.open(options);
}
