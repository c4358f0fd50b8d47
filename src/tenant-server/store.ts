export interface EntrySummary {
  key: string;
  /** Size of the value in UTF-8 bytes. */
  bytes: number;
  updated_at: string;
}

export interface ListOptions {
  prefix?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface ListPage {
  items: EntrySummary[];
  nextCursor?: string;
}

/**
 * One tenant's key-value data: its SQLite file (sqlite-store.ts), or its
 * schema in the PostgreSQL store (pg-store.ts). Both validate keys, values,
 * prefixes and cursors the same way (limits.ts, cursor.ts), order keys by
 * code point, and refuse a write over the storage quota (quota.ts) without
 * changing anything.
 */
export interface TenantStore {
  readonly tenantId: string;
  /** Where the data lives, for the log; never a password. */
  readonly where: string;
  /** Stores `value` under `key`; resolves to the value's size in bytes. */
  set(key: string, value: string, updatedBy?: string): Promise<number>;
  get(key: string): Promise<string | undefined>;
  /** False when there was no such key. */
  delete(key: string): Promise<boolean>;
  /** One page of keys in key order; pass `nextCursor` back for the next page. */
  list(options: ListOptions): Promise<ListPage>;
  /** Bytes the storage quota counts. */
  sizeBytes(): Promise<number>;
  /** Keys the tenant has stored (for the figures the server reports). */
  rowCount(): Promise<number>;
  /** Idempotent. */
  close(): Promise<void>;
}
