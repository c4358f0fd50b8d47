import type pg from 'pg';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { decodeCursor, encodeCursor, prefixUpperBound } from './cursor.js';
import { MAX_LIST_LIMIT, validateKey, validatePrefix, validateValue } from './limits.js';
import type { PgStoreOptions } from './options.js';
import { assertWithinQuota } from './quota.js';
import type { EntrySummary, ListOptions, ListPage, TenantStore } from './store.js';

/**
 * Names the supervisor's migrations and provisioning give these (see
 * src/store/tenant-data-migrations.ts and src/store/tenant-data.ts; a test
 * checks they agree). This program imports nothing of the supervisor.
 */
export const SHARED_SCHEMA = 'mcp_tenant_data';
export const ENTRIES_TABLE = 'entries';
export const FENCED_SQLSTATE = 'MTF01';

/** One connection: writes of a tenant take turns anyway, and it outlives a later password change. */
const MAX_CONNECTIONS = 1;
/** How long a query waits for the connection, or a new connection for the server. */
const CONNECT_TIMEOUT_MS = 5_000;
/** A statement stuck longer (a lock never released) fails instead of holding the tool call. */
const STATEMENT_TIMEOUT_MS = 5_000;
/** Connection failures are retried for this long, then the tool call fails with a clear error. */
const RETRY_WINDOW_MS = 3_000;
const FIRST_RETRY_MS = 100;

export interface PgTenantStoreOptions extends PgStoreOptions {
  tenantId: string;
  maxStorageMb: number;
  log: Logger;
  /** Clock for `updated_at`; tests pass a fixed one. */
  now?: () => Date;
}

interface EntryRow {
  key: string;
  bytes: number;
  updated_at: Date;
}

/** Thrown by the body of a write: the connection broke while COMMIT was on its way. */
class CommitOutcomeUnknown extends Error {}

/**
 * One tenant's key-value data in its schema of the PostgreSQL store, reached
 * with the tenant's own role, which can use that schema's table and nothing
 * else. Keys compare byte-wise (COLLATE "C": code point order, like the
 * SQLite file); values are stored as UTF-8 bytes.
 *
 * Every write is one transaction that starts with `fence(epoch)`: refused
 * once this node's lease on the tenant is gone, and holding the tenant's
 * usage row until commit, so the quota check and the write see the same
 * total even with other children of the tenant writing at once.
 */
export class PgTenantStore implements TenantStore {
  readonly tenantId: string;
  readonly where: string;
  private readonly table: string;
  private readonly leaseEpoch: number | null;
  private readonly maxStorageMb: number;
  private readonly now: () => Date;
  private readonly log: Logger;
  private closing: Promise<void> | undefined;

  /** Loads the driver only now: a child on SQLite never pays for it. */
  static async open(options: PgTenantStoreOptions): Promise<PgTenantStore> {
    const { default: driver } = await import('pg');
    const pool = new driver.Pool({
      connectionString: options.url,
      max: MAX_CONNECTIONS,
      // Kept open while the child runs: the role's password changes at the
      // tenant's next start (another child), and an open session outlives that.
      idleTimeoutMillis: 0,
      allowExitOnIdle: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      application_name: `mcp-tenants child ${options.tenantId}`,
    });
    const store = new PgTenantStore(pool, options, driver.escapeIdentifier);
    // A connection that fails, idle or between two statements, must not crash the child.
    pool.on('error', (error) => store.connectionLost(error));
    pool.on('connect', (client) => client.on('error', (error) => store.connectionLost(error)));
    store.warmUp();
    return store;
  }

  private constructor(
    private readonly pool: pg.Pool,
    options: PgTenantStoreOptions,
    escapeIdentifier: (name: string) => string,
  ) {
    this.tenantId = options.tenantId;
    this.where = describeStoreUrl(options.url);
    this.table = `${escapeIdentifier(options.schema)}.${escapeIdentifier(ENTRIES_TABLE)}`;
    this.leaseEpoch = options.leaseEpoch ?? null;
    this.maxStorageMb = options.maxStorageMb;
    this.now = options.now ?? (() => new Date());
    this.log = options.log;
  }

  async set(key: string, value: string, updatedBy?: string): Promise<number> {
    validateKey(key);
    const valueBytes = validateValue(value);
    const data = Buffer.from(value, 'utf8');
    return this.write(async (client, usedBytes) => {
      const old = await client.query<{ bytes: number }>(
        `SELECT octet_length(value) AS bytes FROM ${this.table} WHERE data_key = $1`,
        [key],
      );
      const oldBytes = old.rows[0]?.bytes;
      const neededBytes =
        oldBytes === undefined
          ? Buffer.byteLength(key, 'utf8') + valueBytes
          : valueBytes - oldBytes;
      // Shrinking a value is always allowed: it is how a tenant over quota recovers.
      if (neededBytes > 0) {
        assertWithinQuota({
          tenantId: this.tenantId,
          maxStorageMb: this.maxStorageMb,
          usedBytes,
          neededBytes,
        });
      }
      await client.query(
        `INSERT INTO ${this.table} (data_key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (data_key) DO UPDATE SET
           value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
        [key, data, this.now(), updatedBy ?? null],
      );
      return valueBytes;
    });
  }

  async get(key: string): Promise<string | undefined> {
    validateKey(key);
    const result = await this.read<{ value: Buffer }>(
      `SELECT value FROM ${this.table} WHERE data_key = $1`,
      [key],
    );
    return result.rows[0]?.value.toString('utf8');
  }

  async delete(key: string): Promise<boolean> {
    validateKey(key);
    return this.write(async (client) => {
      const result = await client.query(`DELETE FROM ${this.table} WHERE data_key = $1`, [key]);
      return (result.rowCount ?? 0) > 0;
    });
  }

  async list(options: ListOptions): Promise<ListPage> {
    const prefix = options.prefix ?? '';
    validatePrefix(prefix);
    const limit = Math.min(Math.max(Math.trunc(options.limit), 1), MAX_LIST_LIMIT);
    const after = options.cursor === undefined ? '' : decodeCursor(options.cursor);
    const below = prefix === '' ? undefined : prefixUpperBound(prefix);
    // The range uses the primary key; starts_with is exact on its own (no LIKE wildcards).
    const values: unknown[] = [after, prefix, limit + 1];
    let where = 'data_key > $1 AND data_key >= $2 AND starts_with(data_key, $2)';
    if (below !== undefined) {
      values.push(below);
      where += ' AND data_key < $4';
    }
    const result = await this.read<EntryRow>(
      `SELECT data_key AS key, octet_length(value) AS bytes, updated_at FROM ${this.table}
       WHERE ${where} ORDER BY data_key LIMIT $3`,
      values,
    );
    const items: EntrySummary[] = result.rows.slice(0, limit).map((row) => ({
      key: row.key,
      bytes: row.bytes,
      updated_at: row.updated_at.toISOString(),
    }));
    const last = items.at(-1);
    return result.rows.length > limit && last
      ? { items, nextCursor: encodeCursor(last.key) }
      : { items };
  }

  /** Bytes of the tenant's keys and values, as the supervisor's trigger counts them. */
  async sizeBytes(): Promise<number> {
    return (await this.usage()).bytes;
  }

  async rowCount(): Promise<number> {
    return (await this.usage()).rows;
  }

  async close(): Promise<void> {
    this.closing ??= this.pool.end().catch(() => {});
    return this.closing;
  }

  private async usage(): Promise<{ bytes: number; rows: number }> {
    const result = await this.read<{ bytes: number | null; rows: number | null }>(
      `SELECT bytes::float8 AS bytes, rows::float8 AS rows FROM ${SHARED_SCHEMA}.usage()`,
    );
    // No row of its own (never provisioned): nothing stored.
    const row = result.rows[0];
    return { bytes: row?.bytes ?? 0, rows: row?.rows ?? 0 };
  }

  private read<R extends pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.withRetries(() => this.pool.query<R>(text, values));
  }

  /**
   * Runs `body` in a transaction that `fence` opened. A connection failure
   * before COMMIT left nothing behind, so the whole write is tried again;
   * one during COMMIT may have stored it, so that is said instead.
   */
  private write<T>(body: (client: pg.PoolClient, usedBytes: number) => Promise<T>): Promise<T> {
    return this.withRetries(async () => {
      const client = await this.pool.connect();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const fenced = await client.query<{ used: number }>(
          `SELECT ${SHARED_SCHEMA}.fence($1::bigint)::float8 AS used`,
          [this.leaseEpoch],
        );
        const result = await body(client, fenced.rows[0]?.used ?? 0);
        try {
          await client.query('COMMIT');
        } catch (error) {
          if (isConnectionFailure(error)) throw new CommitOutcomeUnknown(messageOf(error));
          throw error;
        }
        return result;
      } catch (error) {
        broken = isConnectionFailure(error) || error instanceof CommitOutcomeUnknown;
        if (!broken) {
          await client.query('ROLLBACK').catch((rollback: unknown) => {
            broken = rollback;
          });
        }
        throw error;
      } finally {
        // A broken connection is closed, not given back.
        client.release(broken ? true : undefined);
      }
    });
  }

  private async withRetries<T>(work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let delay = FIRST_RETRY_MS;
    for (;;) {
      try {
        return await work();
      } catch (error) {
        const retry =
          !(error instanceof CommitOutcomeUnknown) &&
          isConnectionFailure(error) &&
          Date.now() - started + delay <= RETRY_WINDOW_MS;
        if (!retry) throw this.explain(error);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 3;
      }
    }
  }

  /** What a tool call says when the store failed it; anything unexpected stays as it is. */
  private explain(error: unknown): unknown {
    if (error instanceof McpTenantsError) return error;
    const code = sqlState(error);
    if (code === FENCED_SQLSTATE) {
      return new McpTenantsError(
        ErrorCode.NODE_UNAVAILABLE,
        `this instance no longer owns tenant ${this.tenantId}; retry: another node serves it now`,
        { cause: error },
      );
    }
    if (error instanceof CommitOutcomeUnknown) {
      return new McpTenantsError(
        ErrorCode.STORE_UNAVAILABLE,
        `the connection to the tenant data store (${this.where}) broke while the write was committing, ` +
          `so it may or may not be stored (${error.message}); read the key back before writing it again`,
        { cause: error },
      );
    }
    if (code === '28P01' || code === '28000') {
      return new McpTenantsError(
        ErrorCode.STORE_UNAVAILABLE,
        `the tenant data store (${this.where}) refused this instance's sign-in for tenant ${this.tenantId} ` +
          `(${messageOf(error)}); the password changes at each start of the tenant, so a newer instance ` +
          'serves it now: retry',
        { cause: error },
      );
    }
    if (isConnectionFailure(error)) {
      return new McpTenantsError(
        ErrorCode.STORE_UNAVAILABLE,
        `the tenant data store (${this.where}) is unreachable (${messageOf(error)}); nothing was changed: retry in a moment`,
        { cause: error },
      );
    }
    return error;
  }

  /** Connects in the background so the first tool call does not wait, and says early when it cannot. */
  private warmUp(): void {
    this.pool
      .connect()
      .then((client) => client.release())
      .catch((error: unknown) => {
        if (this.closing) return;
        this.log.warn('cannot reach the tenant data store yet; tool calls retry', {
          store: this.where,
          error: messageOf(this.explain(error)),
        });
      });
  }

  private connectionLost(error: Error): void {
    if (this.closing) return;
    this.log.warn('a connection to the tenant data store failed; the next call reconnects', {
      store: this.where,
      error: error.message,
    });
  }
}

/** Errors of the connection, not the statement: trying again may help. */
export function isConnectionFailure(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined) {
    // Class 08 (connection exception), 57P01-57P03 (shutdown, crash, cannot connect now),
    // 53300 (too many connections, also the role's CONNECTION LIMIT).
    if (/^08|^57P0[1-3]$|^53300$/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(code)) {
      return true;
    }
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

/** `host:port/database` of the store's URL, never its user or password. */
export function describeStoreUrl(url: string): string {
  try {
    // Without the user first: WHATWG URLs refuse credentials with no host (a Unix socket in ?host=).
    const parsed = new URL(url.replace(/^(postgres(?:ql)?:\/\/)[^@/?#]*@/, '$1'));
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    return `${host}:${parsed.port || '5432'}${parsed.pathname || '/'}`;
  } catch {
    return 'the PostgreSQL store';
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
