import type { Migration } from '../store/migrations.js';

/** Telemetry, usage and the audit trail's tables in PostgreSQL. */
export const TELEMETRY_MIGRATIONS: readonly Migration[] = [];
