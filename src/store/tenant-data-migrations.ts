import type { Migration } from './migrations.js';

/** What the built-in tenant server's data needs in PostgreSQL besides each tenant's own schema. */
export const TENANT_DATA_MIGRATIONS: readonly Migration[] = [];
