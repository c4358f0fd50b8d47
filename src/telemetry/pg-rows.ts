import pg from 'pg';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { isConnectionFailure, type PostgresStore } from '../store/postgres.js';

/** What telemetry's PostgreSQL code runs statements on: a transaction's client or the pool. */
export type PgQueryable = Pick<pg.ClientBase, 'query'>;

/**
 * BIGINT, NUMERIC (what `sum` of a BIGINT gives) and BIGINT[] as numbers,
 * for these queries only: epoch ms, counts and bytes stay far below 2^53,
 * and the global parsers belong to the whole process.
 */
const NUMBERS: pg.CustomTypesConfig = {
  getTypeParser: (id, format) => {
    if (format === undefined || format === 'text') {
      if (id === pg.types.builtins.INT8 || id === pg.types.builtins.NUMERIC) return Number;
      if ((id as number) === INT8_ARRAY)
        return (text: string) => pg.types.arrayParser(text, Number);
    }
    return pg.types.getTypeParser(id, format);
  },
};
const INT8_ARRAY = 1016;

/** Rows of one statement, with numbers as numbers. */
export async function pgRows<R extends pg.QueryResultRow>(
  db: PgQueryable,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const result = await db.query<R>({ text, values, types: NUMBERS });
  return result.rows;
}

/**
 * Runs `body` in one read-only REPEATABLE READ transaction: every query of
 * a report or a verification sees the same moment while other nodes write.
 */
export function pgSnapshot<T>(
  store: PostgresStore,
  body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return store.transaction(async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return body(client);
  });
}

let cursors = 0;

/**
 * Rows of one query read through a cursor, `batch` at a time, so a large
 * table is never held in memory at once. Call inside a transaction.
 */
export async function* pgCursor<R extends pg.QueryResultRow>(
  client: pg.PoolClient,
  text: string,
  values: unknown[] = [],
  batch = 5_000,
): AsyncGenerator<R> {
  cursors += 1;
  const name = `mcp_telemetry_cursor_${cursors}`;
  await client.query({ text: `DECLARE ${name} NO SCROLL CURSOR FOR ${text}`, values });
  try {
    for (;;) {
      const rows = await pgRows<R>(client, `FETCH ${batch} FROM ${name}`);
      yield* rows;
      if (rows.length < batch) return;
    }
  } finally {
    // Fails only when the transaction already has; its end closes the cursor anyway.
    await client.query(`CLOSE ${name}`).catch(() => {});
  }
}

/**
 * SQLSTATEs that say the database cannot take the batch now, whatever its
 * rows: serialization failure, deadlock, lock not available, statement
 * timeout, insufficient resources (disk full, out of memory, too many
 * connections), read-only (a standby after a failover).
 */
const TRANSIENT = /^(40001|40P01|55P03|57014|53\d{3}|25006)$/;

/** Whether a failed PostgreSQL write is the store's fault (keep the rows) rather than a row's (drop it). */
export function isPgStoreUnavailable(error: unknown): boolean {
  if (error instanceof McpTenantsError) return error.code === ErrorCode.STORE_UNAVAILABLE;
  if (isConnectionFailure(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT.test(code)) return true;
  // pg-pool's words once the pool is closed (shutdown): no row is to blame.
  return error instanceof Error && /after calling end on the pool/.test(error.message);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as PostgreSQL can store it: it refuses NUL, and a lone surrogate
 * would be stored as U+FFFD. Replaced before anything is hashed, so what
 * the audit hash covers is exactly what is stored.
 */
export function pgText(text: string): string;
export function pgText(text: string | null): string | null;
export function pgText(text: string | null): string | null {
  if (text === null) return null;
  const noNul = text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
  LONE_SURROGATE.lastIndex = 0;
  return LONE_SURROGATE.test(noNul) ? noNul.replace(LONE_SURROGATE, '\uFFFD') : noNul;
}

/** A count for a BIGINT column (a child may report fractions; PostgreSQL would refuse the batch). */
export function pgInt(value: number): number;
export function pgInt(value: number | null): number | null;
export function pgInt(value: number | null): number | null {
  return value === null ? null : Math.round(value);
}
