import type pg from 'pg';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { PostgresStore } from '../store/postgres.js';
import { REVOCATION_CHANNEL } from './pg-migrations.js';
import type { RevocationFeed } from './revocation-feed.js';
import { REVOCATION_POLL_MS } from './revocation-watch.js';
import type { Revocation } from './revocations.js';

/** Kept this long after the token's own expiry, for clock skew between hosts (as in SQLite). */
const KEEP_AFTER_EXPIRY_MS = 24 * 3_600_000;
/**
 * Kept in memory this long after the token's expiry: the verifier refuses an
 * expired token itself (with 5 s of tolerance), so a margin for clocks is enough.
 */
const KEEP_IN_MEMORY_AFTER_EXPIRY_MS = 10 * 60_000;
/** Each poll re-reads this far back: a revocation may commit a little after its timestamp. */
const OVERLAP_MS = 5_000;
const PRUNE_INTERVAL_MS = 60_000;
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** NOTIFY payloads are limited to 8000 bytes; a longer jti is announced without it (receivers poll). */
const MAX_PAYLOAD_BYTES = 4_000;

const MS = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::bigint`;

interface RevocationRow {
  jti: string;
  revoked_at: string;
  reason: string | null;
  expires_at: string | null;
}

function toRevocation(row: RevocationRow): Revocation {
  return {
    jti: row.jti,
    revoked_at: Number(row.revoked_at),
    reason: row.reason,
    expires_at: row.expires_at === null ? null : Number(row.expires_at),
  };
}

type RevocationDatabase = Pick<PostgresStore, 'query' | 'transaction' | 'explain'>;

/**
 * The deny list's table in PostgreSQL, without any state: what `mcp-tenants
 * revoke` writes and lists, and what the feed reads.
 */
export class PgRevocationTable {
  constructor(private readonly pg: RevocationDatabase) {}

  /**
   * Inserts and notifies in one transaction, so a node that hears of it
   * finds the row. Prunes entries whose token expired over a day ago.
   * False when the jti was revoked already.
   */
  async revoke(jti: string, reason?: string, expiresAt?: number): Promise<boolean> {
    try {
      return await this.pg.transaction(async (client) => {
        await client.query(
          "DELETE FROM mcp_revoked_tokens WHERE expires_at < clock_timestamp() - $1 * interval '1 millisecond'",
          [KEEP_AFTER_EXPIRY_MS],
        );
        const inserted = await client.query(
          `INSERT INTO mcp_revoked_tokens (jti, reason, expires_at)
           VALUES ($1, $2, to_timestamp($3::double precision / 1000))
           ON CONFLICT (jti) DO NOTHING`,
          [jti, reason ?? null, expiresAt ?? null],
        );
        if ((inserted.rowCount ?? 0) === 0) return false;
        const payload = Buffer.byteLength(jti) <= MAX_PAYLOAD_BYTES ? jti : '';
        await client.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, payload]);
        return true;
      });
    } catch (error) {
      throw this.pg.explain(error);
    }
  }

  async list(): Promise<Revocation[]> {
    const result = await this.pg.query<RevocationRow>(
      `SELECT jti, ${MS('revoked_at')} AS revoked_at, reason, ${MS('expires_at')} AS expires_at
         FROM mcp_revoked_tokens ORDER BY revoked_at, jti`,
    );
    return result.rows.map(toRevocation);
  }

  /** Entries whose token may still be presented, and the database's time they were read at. */
  async current(): Promise<{ now: number; entries: Revocation[] }> {
    const clock = await this.pg.query<{ now: string }>(`SELECT ${MS('clock_timestamp()')} AS now`);
    const result = await this.pg.query<RevocationRow>(
      `SELECT jti, ${MS('revoked_at')} AS revoked_at, reason, ${MS('expires_at')} AS expires_at
         FROM mcp_revoked_tokens
        WHERE expires_at IS NULL OR expires_at > clock_timestamp() - $1 * interval '1 millisecond'`,
      [KEEP_IN_MEMORY_AFTER_EXPIRY_MS],
    );
    return { now: Number(clock.rows[0]?.now), entries: result.rows.map(toRevocation) };
  }

  /** Revocations made at or after `since` (the database's epoch ms), oldest first. */
  async revokedSince(since: number): Promise<Revocation[]> {
    const result = await this.pg.query<RevocationRow>(
      `SELECT jti, ${MS('revoked_at')} AS revoked_at, reason, ${MS('expires_at')} AS expires_at
         FROM mcp_revoked_tokens
        WHERE revoked_at >= to_timestamp($1::double precision / 1000)
        ORDER BY revoked_at`,
      [since],
    );
    return result.rows.map(toRevocation);
  }
}

export interface PgRevocationFeedOptions {
  pg: Pick<PostgresStore, 'query' | 'transaction' | 'explain' | 'connect' | 'where'>;
  log: Logger;
  /** The backstop poll; LISTEN/NOTIFY usually tells within milliseconds. */
  pollIntervalMs?: number;
  now?: () => number;
}

/**
 * The deny list of a cluster: every revoked jti whose token can still be
 * presented, in memory, so `has` is a map lookup on every request. It is
 * loaded at start and kept current by LISTEN on a connection of its own
 * (reconnected with back-off when it drops) and by a poll every second of
 * what was revoked since the last entry seen (with an overlap), which also
 * catches up whatever was revoked while the connection was down. Entries
 * leave memory ten minutes after their token expires; one revoked by jti
 * alone (expiry unknown) stays, as it does in the table.
 */
export class PgRevocationFeed implements RevocationFeed {
  private readonly table: PgRevocationTable;
  private readonly revoked = new Map<string, number | null>();
  private readonly listeners = new Set<(jti: string) => void>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private readonly loaded: Promise<void>;
  private markLoaded: () => void = () => {};
  private isLoaded = false;
  /** The newest `revoked_at` seen (the database's clock). */
  private since = 0;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private lastPrune = 0;
  private lastWarning = 0;
  private listener: pg.Client | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = RECONNECT_FIRST_MS;
  private closed = false;

  constructor(private readonly options: PgRevocationFeedOptions) {
    this.table = new PgRevocationTable(options.pg);
    this.now = options.now ?? Date.now;
    this.loaded = new Promise((resolve) => {
      this.markLoaded = resolve;
    });
    this.timer = setInterval(() => this.poll(), options.pollIntervalMs ?? REVOCATION_POLL_MS);
    this.timer.unref();
    this.poll();
    void this.listen();
  }

  has(jti: string): boolean {
    if (!this.isLoaded) {
      // Refusing is the only safe answer before the list is known; it lasts milliseconds at start.
      throw new McpTenantsError(
        ErrorCode.STORE_UNAVAILABLE,
        `the revocation list is still being read from the PostgreSQL store at ${this.options.pg.where}; retry in a moment`,
      );
    }
    return this.revoked.has(jti);
  }

  onRevoked(listener: (jti: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async revoke(jti: string, reason?: string, expiresAt?: number): Promise<boolean> {
    const added = await this.table.revoke(jti, reason, expiresAt);
    // This node need not wait for its own notification.
    if (added) this.add(jti, expiresAt ?? null);
    return added;
  }

  list(): Promise<Revocation[]> {
    return this.table.list();
  }

  ready(): Promise<void> {
    return this.loaded;
  }

  /** Reads what was revoked since the last entry seen; a poll asked for during one runs right after it. */
  poll(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.polling) {
      this.pollAgain = true;
      return this.polling;
    }
    this.polling = this.read()
      .catch((error: unknown) => this.warn('could not read the revocation list; retrying', error))
      .finally(() => {
        this.polling = undefined;
        if (this.pollAgain) {
          this.pollAgain = false;
          void this.poll();
        }
      });
    return this.polling;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.listeners.clear();
    const client = this.listener;
    this.listener = undefined;
    await Promise.allSettled([client?.end(), this.polling]);
  }

  private async read(): Promise<void> {
    if (!this.isLoaded) {
      const { now, entries } = await this.table.current();
      for (const entry of entries) this.revoked.set(entry.jti, entry.expires_at);
      this.since = now;
      this.isLoaded = true;
      this.lastPrune = this.now();
      this.markLoaded();
      return;
    }
    for (const entry of await this.table.revokedSince(this.since - OVERLAP_MS)) {
      this.since = Math.max(this.since, entry.revoked_at);
      this.add(entry.jti, entry.expires_at);
    }
    const now = this.now();
    if (now - this.lastPrune > PRUNE_INTERVAL_MS) {
      this.lastPrune = now;
      for (const [jti, expiresAt] of this.revoked) {
        if (expiresAt !== null && expiresAt < now - KEEP_IN_MEMORY_AFTER_EXPIRY_MS) {
          this.revoked.delete(jti);
        }
      }
    }
  }

  /** Remembers a jti and announces it, once; a token long expired is neither. */
  private add(jti: string, expiresAt: number | null): void {
    if (this.revoked.has(jti)) return;
    if (expiresAt !== null && expiresAt < this.now() - KEEP_IN_MEMORY_AFTER_EXPIRY_MS) return;
    this.revoked.set(jti, expiresAt);
    for (const listener of this.listeners) {
      try {
        listener(jti);
      } catch (error) {
        this.options.log.error('closing a revoked connection failed', { error: String(error) });
      }
    }
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = this.options.pg.connect();
    this.listener = client;
    client.on('notification', (message) => {
      if (message.channel === REVOCATION_CHANNEL) void this.poll();
    });
    client.on('error', (error) => this.dropped(client, error));
    client.on('end', () => this.dropped(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    } catch (error) {
      this.dropped(client, error);
      return;
    }
    if (this.listener !== client) return;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    // What was revoked while nobody listened.
    void this.poll();
  }

  private dropped(client: pg.Client, error: unknown): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    client.end().catch(() => {});
    if (this.closed) return;
    this.warn('the revocation listener lost its PostgreSQL connection; reconnecting', error);
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => void this.listen(), delay);
    this.reconnectTimer.unref();
  }

  private warn(message: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < 60_000) return;
    this.lastWarning = now;
    const explained = this.options.pg.explain(error);
    this.options.log.warn(message, {
      store: this.options.pg.where,
      error: explained instanceof Error ? explained.message : String(explained),
    });
  }
}
