import type { Migration } from '../store/migrations.js';

/** The quota counters' tables in PostgreSQL. */
export const QUOTA_MIGRATIONS: readonly Migration[] = [];
