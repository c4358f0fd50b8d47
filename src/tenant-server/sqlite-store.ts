import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { decodeCursor, encodeCursor, prefixUpperBound } from './cursor.js';
import { DATABASE_FILE_NAME, openTenantDatabase } from './database.js';
import { MAX_LIST_LIMIT, validateKey, validatePrefix, validateValue } from './limits.js';
import { assertWithinQuota } from './quota.js';
import type { EntrySummary, ListOptions, ListPage, TenantStore } from './store.js';

export interface SqliteTenantStoreOptions {
  /** The tenant's folder; the store lives in `<dataDir>/tenant.db`. */
  dataDir: string;
  tenantId: string;
  maxStorageMb: number;
  /** Clock for `updated_at`; tests pass a fixed one. */
  now?: () => Date;
}

interface ListParams {
  tenant: string;
  after: string;
  prefix: string;
  below?: string;
  limit: number;
}

/**
 * One tenant's key-value data in its SQLite file. Every statement filters by
 * the tenant id, so even two tenants sharing a file never see each other's rows.
 * The work is synchronous; the methods return promises to share the
 * TenantStore interface with the PostgreSQL store.
 */
export class SqliteTenantStore implements TenantStore {
  readonly tenantId: string;
  readonly where: string;
  private readonly db: Database.Database;
  /** The tenant's database file (what is open may be a private read-only copy of it). */
  private readonly file: string;
  private readonly maxStorageMb: number;
  private readonly now: () => Date;
  private readonly statements: Statements;
  private readonly setInTransaction: Database.Transaction<
    (key: string, value: string, valueBytes: number, updatedBy: string | null) => number
  >;

  static open(options: SqliteTenantStoreOptions): SqliteTenantStore {
    return new SqliteTenantStore(openTenantDatabase(options.dataDir), options);
  }

  private constructor(db: Database.Database, options: SqliteTenantStoreOptions) {
    this.db = db;
    this.file = join(options.dataDir, DATABASE_FILE_NAME);
    this.where = this.file;
    this.tenantId = options.tenantId;
    this.maxStorageMb = options.maxStorageMb;
    this.now = options.now ?? (() => new Date());
    this.statements = prepareStatements(db);
    // IMMEDIATE (see set) takes the write lock before measuring, so the quota
    // check and the write see the same database, and a refusal writes nothing.
    this.setInTransaction = db.transaction(this.writeWithinQuota.bind(this));
  }

  /** Stores `value` under `key`; returns the value's size in bytes. */
  async set(key: string, value: string, updatedBy?: string): Promise<number> {
    this.refuseReadOnly();
    validateKey(key);
    const valueBytes = validateValue(value);
    return this.setInTransaction.immediate(key, value, valueBytes, updatedBy ?? null);
  }

  private writeWithinQuota(
    key: string,
    value: string,
    valueBytes: number,
    updatedBy: string | null,
  ): number {
    const oldBytes = this.statements.valueBytes.get(this.tenantId, key)?.bytes;
    const neededBytes =
      oldBytes === undefined ? Buffer.byteLength(key, 'utf8') + valueBytes : valueBytes - oldBytes;
    // Shrinking a value is always allowed: it is how a tenant over quota recovers.
    if (neededBytes > 0) {
      assertWithinQuota({
        tenantId: this.tenantId,
        maxStorageMb: this.maxStorageMb,
        usedBytes: this.usedBytes(),
        neededBytes,
      });
    }
    this.statements.upsert.run(this.tenantId, key, value, this.now().toISOString(), updatedBy);
    return valueBytes;
  }

  async get(key: string): Promise<string | undefined> {
    validateKey(key);
    return this.statements.get.get(this.tenantId, key)?.value;
  }

  /** Returns false when there was no such key. */
  async delete(key: string): Promise<boolean> {
    this.refuseReadOnly();
    validateKey(key);
    return this.statements.delete.run(this.tenantId, key).changes > 0;
  }

  /** One page of keys in key order; pass `nextCursor` back for the next page. */
  async list(options: ListOptions): Promise<ListPage> {
    const prefix = options.prefix ?? '';
    validatePrefix(prefix);
    const limit = Math.min(Math.max(Math.trunc(options.limit), 1), MAX_LIST_LIMIT);
    const params: ListParams = {
      tenant: this.tenantId,
      after: options.cursor === undefined ? '' : decodeCursor(options.cursor),
      prefix,
      limit: limit + 1, // one extra row tells whether there is a next page
    };
    const below = prefix === '' ? undefined : prefixUpperBound(prefix);
    const rows =
      below === undefined
        ? this.statements.listFrom.all(params)
        : this.statements.listRange.all({ ...params, below });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return rows.length > limit && last ? { items, nextCursor: encodeCursor(last.key) } : { items };
  }

  /**
   * Bytes the tenant's database file uses: pages in use, not free ones.
   * Deleting keys frees pages, so "delete keys" really makes room even though
   * the file does not shrink. Pages still in the WAL count: the connection
   * sees them as part of the database.
   */
  async sizeBytes(): Promise<number> {
    return this.usedBytes();
  }

  private usedBytes(): number {
    return this.statements.usedBytes.get()?.bytes ?? 0;
  }

  /** Keys the tenant has stored (for the figures the server reports). */
  async rowCount(): Promise<number> {
    return this.statements.rowCount.get(this.tenantId)?.rows ?? 0;
  }

  /** The file could only be opened read-only (see openTenantDatabase): say so, plainly. */
  private refuseReadOnly(): void {
    if (!this.db.readonly) return;
    throw new McpTenantsError(
      ErrorCode.INTERNAL,
      `the tenant's data is read-only (${this.file} cannot be opened for writing); reads still work`,
    );
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

const LIST_COLUMNS =
  'SELECT data_key AS key, octet_length(value) AS bytes, updated_at FROM entries';
// The range bounds use the primary key index; the substr() test keeps `%` and
// `_` literal (LIKE would treat them as wildcards) and is exact on its own.
const LIST_WHERE = `WHERE tenant_id = @tenant AND data_key > @after AND data_key >= @prefix
  AND substr(data_key, 1, length(@prefix)) = @prefix`;

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    get: db.prepare<[string, string], { value: string }>(
      'SELECT value FROM entries WHERE tenant_id = ? AND data_key = ?',
    ),
    valueBytes: db.prepare<[string, string], { bytes: number }>(
      'SELECT octet_length(value) AS bytes FROM entries WHERE tenant_id = ? AND data_key = ?',
    ),
    upsert: db.prepare<[string, string, string, string, string | null]>(
      `INSERT INTO entries (tenant_id, data_key, value, updated_at, updated_by)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, data_key) DO UPDATE SET
         value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    ),
    delete: db.prepare<[string, string]>(
      'DELETE FROM entries WHERE tenant_id = ? AND data_key = ?',
    ),
    listFrom: db.prepare<ListParams, EntrySummary>(
      `${LIST_COLUMNS} ${LIST_WHERE} ORDER BY data_key LIMIT @limit`,
    ),
    listRange: db.prepare<Required<ListParams>, EntrySummary>(
      `${LIST_COLUMNS} ${LIST_WHERE} AND data_key < @below ORDER BY data_key LIMIT @limit`,
    ),
    rowCount: db.prepare<[string], { rows: number }>(
      'SELECT count(*) AS rows FROM entries WHERE tenant_id = ?',
    ),
    usedBytes: db.prepare<[], { bytes: number }>(
      `SELECT (p.page_count - f.freelist_count) * s.page_size AS bytes
       FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s`,
    ),
  };
}
