import type { Migration } from '../store/migrations.js';

/** The revocation list's tables in PostgreSQL. */
export const REVOCATION_MIGRATIONS: readonly Migration[] = [];
