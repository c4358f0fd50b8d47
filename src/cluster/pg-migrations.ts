import type { Migration } from '../store/migrations.js';

/** Nodes and tenant leases. */
export const CLUSTER_MIGRATIONS: readonly Migration[] = [];
