import pg from 'pg';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** How long a start waits for the database before saying it is unreachable. */
const CONNECT_DEADLINE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** A query waits this long for a pooled connection before the store counts as down. */
const ACQUIRE_TIMEOUT_MS = 5_000;
/** No statement of the supervisor's runs longer; a stuck one fails instead of piling up. */
const STATEMENT_TIMEOUT_MS = 15_000;

export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * The PostgreSQL store every node of a cluster shares: one pool, its URL
 * shown without the password. A connection that fails while idle is logged
 * and replaced, never thrown: a database restart ends queries, not the
 * supervisor.
 */
export class PostgresStore {
  private closed = false;

  private constructor(
    readonly pool: pg.Pool,
    /** host:port/database, for messages (never the password). */
    readonly where: string,
    private readonly url: string,
  ) {}

  static async open(
    url: string,
    options: {
      log: Logger;
      applicationName: string;
      maxConnections?: number;
      /** How long to keep trying to reach the database at start. */
      connectDeadlineMs?: number;
    },
  ): Promise<PostgresStore> {
    const where = describeUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: ACQUIRE_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: options.applicationName,
      statement_timeout: STATEMENT_TIMEOUT_MS,
    });
    pool.on('error', (error) => {
      options.log.warn('a PostgreSQL connection failed while idle; it is replaced on next use', {
        store: where,
        error: error.message,
      });
    });
    const store = new PostgresStore(pool, where, url);
    try {
      await store.waitUntilReachable(options.connectDeadlineMs ?? CONNECT_DEADLINE_MS);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return store;
  }

  /** A dedicated connection outside the pool (LISTEN needs one of its own). */
  connect(): pg.Client {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    return client;
  }

  /** Runs `body` in one transaction on one connection; rolls back when it throws. */
  async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    // A connection that dies while held emits 'error' on the client, which
    // would be an uncaught exception without a listener; the query fails anyway.
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    let failed: unknown;
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      failed = broken ?? error;
      if (!broken) await client.query('ROLLBACK').catch(() => {});
      throw this.explain(failed);
    } finally {
      client.off('error', onError);
      // A broken connection is discarded, not returned to the pool.
      client.release(broken ?? (failed !== undefined && isConnectionFailure(failed)));
    }
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw this.explain(error);
    }
  }

  /** A failure that says the database is not reachable becomes STORE_UNAVAILABLE; others stay as they are. */
  explain(error: unknown): unknown {
    if (error instanceof McpTenantsError || !isConnectionFailure(error)) return error;
    return unavailable(this.where, error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async checkout(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw unavailable(this.where, error);
    }
  }

  /** Retries for a bounded time: several nodes and a database may start together. */
  private async waitUntilReachable(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    let delay = 100;
    for (;;) {
      try {
        await this.pool.query('SELECT 1');
        return;
      } catch (error) {
        if (!isConnectionFailure(error) || Date.now() + delay > deadline) {
          throw unavailable(this.where, error);
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }
}

/** Errors that are the connection's, not the statement's: waiting may help. */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    // Class 08 (connection exception), 57P01-57P03 (admin shutdown, crash, cannot
    // connect now), class 53 (out of resources: connections, memory, the lock
    // table), 57014 (a statement timed out) and 55P03 (a lock not granted in time):
    // the store is in trouble now, whatever the statement.
    if (/^08|^57P0[1-3]$|^53|^57014$|^55P03$/.test(code)) return true;
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(code))
      return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated unexpectedly/i.test(
    message,
  );
}

function unavailable(where: string, cause: unknown): McpTenantsError {
  const reason = cause instanceof Error ? cause.message || String(cause) : String(cause);
  return new McpTenantsError(
    ErrorCode.STORE_UNAVAILABLE,
    `the PostgreSQL store at ${where} is unreachable (${reason}); check server.store and that the database accepts connections`,
    { cause },
  );
}

/** `host:port/database` of a postgres:// URL, without user or password. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
    return `${host}:${parsed.port || '5432'}${parsed.pathname || '/'}`;
  } catch {
    return 'the configured database (server.store is not a valid URL)';
  }
}
