import type Database from 'better-sqlite3';
import type { PostgresStore } from './postgres.js';

/**
 * Where a supervisor keeps what is durable: the embedded SQLite database in
 * its data folder (one host), or the PostgreSQL store every node of a
 * cluster shares. Each concern (quota, revocations, telemetry, cluster,
 * tenant data) has its own tables and picks its implementation by `kind`.
 */
export type StoreBackend =
  | { readonly kind: 'sqlite'; readonly db: Database.Database }
  | { readonly kind: 'postgres'; readonly pg: PostgresStore };
