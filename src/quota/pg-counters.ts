import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { PostgresStore } from '../store/postgres.js';
import {
  type Admission,
  batchFor,
  type CounterCheck,
  DEFAULT_FLUSH_INTERVAL_MS,
  rememberedRefusal,
  type UsageCounters,
} from './shared-counters.js';
import { retryAfterMs } from './windows.js';

/** What the counters need of the store (a test may wrap `query` to count round trips). */
export type CounterDatabase = Pick<PostgresStore, 'query' | 'explain' | 'where'>;

export interface PgCountersOptions {
  pg: CounterDatabase;
  log: Logger;
  /**
   * A clock for tests: then the database counts by it too. Unset, the
   * database's own clock decides, so nodes with skewed clocks agree.
   */
  now?: () => number;
  /** A fixed batch size B instead of `batchFor(limit)` (tests). */
  batch?: number;
  /** Unspent reservations are given back, and idle scopes forgotten, this often. */
  flushIntervalMs?: number;
  /** How long a request waits for the database before it is refused. */
  timeoutMs?: number;
}

/** A request that has to ask the database waits at most this long, then is refused. */
export const DECISION_TIMEOUT_MS = 2_000;
/** After a failure, requests that need the database are refused at once for this long. */
const STORE_RETRY_MS = 1_000;
/** A scope unused this long is forgotten (its counts stay in the database). */
const IDLE_MS = 2 * 60_000;
const PRUNE_INTERVAL_MS = 60_000;

/** Admissions the database counted for this node, to be spent before `until` (local ms). */
interface Reservation {
  bucket: number;
  left: number;
  until: number;
}

interface ScopeState {
  reservation: Reservation | undefined;
  /** The limit the reservation was taken under: a lowered limit gives it back. */
  limit: number;
  refusedUntil: number;
  refusedLimit: number;
  refusedUsed: number;
  lastUsed: number;
  /** A reservation for this scope on its way: others wait for it instead of asking too. */
  asking: Promise<unknown> | undefined;
}

interface Release {
  scope: string;
  bucket: number;
  count: number;
}

/** One row of `mcp_quota_reserve`; BIGINTs arrive as strings. */
interface ReserveRow {
  now_ms: string;
  refused: number | null;
  granted: number[] | null;
  buckets: string[] | null;
  valid_ms: string[] | null;
  refused_buckets: string[] | null;
  refused_counts: string[] | null;
}

const RESERVE = `SELECT * FROM mcp_quota_reserve(
  $1::text[], $2::text[], $3::bigint[], $4::integer[],
  $5::text[], $6::bigint[], $7::bigint[], $8::bigint)`;

/**
 * Usage counters shared exactly by every node of a cluster through
 * PostgreSQL. A node reserves admissions from the shared count in one
 * statement (`mcp_quota_reserve`: every scope of the request under its
 * advisory lock, all or nothing, up to B = `batchFor(limit)` per scope,
 * fewer as the limit nears) and spends them from memory with no I/O.
 *
 * - A reservation counts in the bucket it was made in, so it is spent only
 *   while that bucket lasts (a second for the minute, the day, the month);
 *   what is left then is given back, with the next reservation or within
 *   `flushIntervalMs`. Reserved but unspent admissions count as used, so the
 *   errors all go towards refusing: the limit is never exceeded, over all
 *   nodes together. A crash loses what it had reserved until the window frees.
 * - A refusal is remembered until the window frees up, so a flood of refused
 *   requests costs no I/O.
 * - Without the database, reservations in hand are still spent; a request
 *   that needs the database waits at most `timeoutMs` and is refused with
 *   STORE_UNAVAILABLE (for a second after a failure, at once), never
 *   admitted uncounted.
 */
export class PgCounters implements UsageCounters {
  private readonly scopes = new Map<string, ScopeState>();
  private readonly releases = new Map<string, Release>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly timer: NodeJS.Timeout;
  private storeDownUntil = 0;
  private storeError: McpTenantsError | undefined;
  private lastPrune: number;
  private lastFailureLog = 0;
  private flushing = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: PgCountersOptions) {
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? DECISION_TIMEOUT_MS;
    this.lastPrune = this.now();
    this.timer = setInterval(
      () => this.flush(),
      options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
    );
    this.timer.unref();
  }

  tryAdmit(checks: readonly CounterCheck[]): Admission | Promise<Admission> {
    const now = this.now();
    const states = checks.map((check) => this.state(check.scope, now));
    return this.fromMemory(checks, states, now) ?? this.decideShared(checks, states);
  }

  /** Gives back expired reservations, forgets idle scopes, prunes old buckets; never throws. */
  flush(): void {
    if (this.flushing || this.closing) return;
    const now = this.now();
    for (const [scope, state] of this.scopes) {
      const reservation = state.reservation;
      if (reservation && reservation.until <= now) this.giveBack(scope, state);
      if (!state.reservation && !state.asking && now - state.lastUsed > IDLE_MS) {
        this.scopes.delete(scope);
      }
    }
    if (this.storeDownUntil > now) return;
    const work: Promise<unknown>[] = [];
    if (this.releases.size > 0) work.push(this.sendReleases());
    if (now - this.lastPrune > PRUNE_INTERVAL_MS) {
      this.lastPrune = now;
      work.push(this.prune());
    }
    if (work.length === 0) return;
    this.flushing = true;
    this.track(
      Promise.all(work)
        .catch((error: unknown) => this.reportFailure(error))
        .finally(() => {
          this.flushing = false;
        }),
    );
  }

  /** Gives back every unspent reservation and stops the timer. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      await Promise.allSettled([...this.background]);
      for (const [scope, state] of this.scopes) this.giveBack(scope, state);
      if (this.releases.size === 0) return;
      try {
        await this.withTimeout(this.sendReleases());
      } catch (error) {
        // Not given back: counted as used until their window frees, never the other way.
        this.reportFailure(error);
      }
    })();
    return this.closing;
  }

  private fromMemory(
    checks: readonly CounterCheck[],
    states: readonly ScopeState[],
    now: number,
  ): Admission | undefined {
    const remembered = rememberedRefusal(checks, states, now);
    if (remembered) return remembered;
    let all = true;
    for (const [i, check] of checks.entries()) {
      const state = states[i] as ScopeState;
      const reservation = state.reservation;
      if (reservation && (reservation.until <= now || state.limit !== check.limit)) {
        this.giveBack(check.scope, state);
      }
      if (!state.reservation) all = false;
    }
    if (!all) return undefined;
    for (const state of states) {
      const reservation = state.reservation as Reservation;
      reservation.left -= 1;
      if (reservation.left === 0) state.reservation = undefined;
    }
    return { admitted: true };
  }

  private async decideShared(
    checks: readonly CounterCheck[],
    states: readonly ScopeState[],
  ): Promise<Admission> {
    for (;;) {
      const now = this.now();
      const decided = this.fromMemory(checks, states, now);
      if (decided) return decided;
      const lacking = checks.flatMap((_, i) => (states[i]?.reservation ? [] : [i]));
      const pending = lacking.flatMap((i) => {
        const asking = states[i]?.asking;
        return asking ? [asking] : [];
      });
      if (pending.length > 0) {
        await Promise.allSettled(pending);
        continue;
      }
      if (this.storeDownUntil > now && this.storeError) throw this.storeError;
      const refusal = await this.reserve(checks, states, lacking, now);
      if (refusal) return refusal;
    }
  }

  /**
   * One round trip: reserves for the scopes in `lacking` (and gives back
   * what is pending). Returns the refusal, or undefined when the
   * reservations are in memory for the caller to spend.
   */
  private async reserve(
    checks: readonly CounterCheck[],
    states: readonly ScopeState[],
    lacking: readonly number[],
    sentAt: number,
  ): Promise<Admission | undefined> {
    const asked = lacking.map((i) => checks[i] as CounterCheck);
    const releases = this.takeReleases();
    const query = this.options.pg.query<ReserveRow>(RESERVE, [
      asked.map((check) => check.scope),
      asked.map((check) => check.window.name),
      asked.map((check) => check.limit),
      asked.map((check) => this.options.batch ?? batchFor(check.limit)),
      releases.map((release) => release.scope),
      releases.map((release) => release.bucket),
      releases.map((release) => release.count),
      this.options.now ? sentAt : null,
    ]);
    // Applied even when it answers after the timeout: what it reserved is spent, not lost.
    const applied = query.then((result) => {
      const row = result.rows[0];
      if (!row) throw new Error('mcp_quota_reserve returned no row');
      return this.apply(row, checks, states, lacking, sentAt);
    });
    applied.catch(() => {});
    const asking = this.withTimeout(applied);
    for (const i of lacking) (states[i] as ScopeState).asking = asking;
    try {
      const refusal = await asking;
      this.storeDownUntil = 0;
      return refusal;
    } catch (error) {
      throw this.failed(error);
    } finally {
      for (const i of lacking) {
        const state = states[i] as ScopeState;
        if (state.asking === asking) state.asking = undefined;
      }
    }
  }

  private apply(
    row: ReserveRow,
    checks: readonly CounterCheck[],
    states: readonly ScopeState[],
    lacking: readonly number[],
    sentAt: number,
  ): Admission | undefined {
    if (row.refused !== null) {
      const index = lacking[row.refused] as number;
      const check = checks[index] as CounterCheck;
      const state = states[index] as ScopeState;
      const counts = new Map<number, number>();
      const buckets = row.refused_buckets ?? [];
      const values = row.refused_counts ?? [];
      let used = 0;
      for (const [k, bucket] of buckets.entries()) {
        const count = Number(values[k]);
        counts.set(Number(bucket), count);
        used += count;
      }
      const wait = retryAfterMs(check.window, counts, check.limit, Number(row.now_ms));
      state.refusedUntil = sentAt + wait;
      state.refusedLimit = check.limit;
      state.refusedUsed = used;
      return { admitted: false, refused: index, used, retryAfterMs: wait };
    }
    for (const [k, index] of lacking.entries()) {
      const check = checks[index] as CounterCheck;
      const state = states[index] as ScopeState;
      const granted = row.granted?.[k] ?? 0;
      const bucket = Number(row.buckets?.[k]);
      // The database's time left in the bucket, counted from when we asked: never later than it.
      const until = sentAt + Number(row.valid_ms?.[k]);
      const held = state.reservation;
      if (held && held.bucket === bucket && state.limit === check.limit) {
        held.left += granted;
        held.until = Math.min(held.until, until);
      } else {
        if (held) this.giveBack(check.scope, state);
        state.reservation = { bucket, left: granted, until };
      }
      state.limit = check.limit;
    }
    return undefined;
  }

  private state(scope: string, now: number): ScopeState {
    let state = this.scopes.get(scope);
    if (!state) {
      state = {
        reservation: undefined,
        limit: 0,
        refusedUntil: 0,
        refusedLimit: 0,
        refusedUsed: 0,
        lastUsed: now,
        asking: undefined,
      };
      this.scopes.set(scope, state);
    }
    state.lastUsed = now;
    return state;
  }

  /** Drops a scope's reservation from memory; what is left of it goes back with the next statement. */
  private giveBack(scope: string, state: ScopeState): void {
    const reservation = state.reservation;
    state.reservation = undefined;
    if (!reservation || reservation.left <= 0) return;
    const key = `${scope}\u0000${reservation.bucket}`;
    const queued = this.releases.get(key);
    if (queued) queued.count += reservation.left;
    else this.releases.set(key, { scope, bucket: reservation.bucket, count: reservation.left });
  }

  /**
   * Taken out of the queue before they are sent, and never sent again: a
   * statement that fails may still have committed, and giving back twice
   * would admit more than the limit. A lost release only refuses early.
   */
  private takeReleases(): Release[] {
    const releases = [...this.releases.values()];
    this.releases.clear();
    return releases;
  }

  private async sendReleases(): Promise<void> {
    const releases = this.takeReleases();
    if (releases.length === 0) return;
    await this.options.pg.query(RESERVE, [
      [],
      [],
      [],
      [],
      releases.map((release) => release.scope),
      releases.map((release) => release.bucket),
      releases.map((release) => release.count),
      this.options.now ? this.now() : null,
    ]);
  }

  /** Minute buckets a minute past their window (day and month rows are one per scope and period). */
  private async prune(): Promise<void> {
    await this.options.pg.query(
      `DELETE FROM mcp_quota_counters
        WHERE scope >= 'minute:' AND scope < 'minute;'
          AND bucket < coalesce($1::bigint / 1000, floor(extract(epoch FROM clock_timestamp()))::bigint) - 120`,
      [this.options.now ? this.now() : null],
    );
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new McpTenantsError(
              ErrorCode.STORE_UNAVAILABLE,
              `the PostgreSQL store at ${this.options.pg.where} did not answer within ${this.timeoutMs} ms`,
            ),
          ),
        this.timeoutMs,
      );
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  private track(work: Promise<unknown>): void {
    this.background.add(work);
    const done = () => this.background.delete(work);
    void work.then(done, done);
  }

  /** The refusal every request that needs the database gets until it answers again. */
  private failed(error: unknown): McpTenantsError {
    this.reportFailure(error);
    const explained = this.options.pg.explain(error);
    const reason = explained instanceof Error ? explained.message : String(explained);
    const refusal = new McpTenantsError(
      ErrorCode.STORE_UNAVAILABLE,
      `this request cannot be counted against its quotas: ${reason}. It is refused rather than admitted uncounted; retry once the database answers`,
      { cause: error, data: { store: this.options.pg.where } },
    );
    this.storeDownUntil = this.now() + STORE_RETRY_MS;
    this.storeError = refusal;
    return refusal;
  }

  private reportFailure(error: unknown): void {
    const now = Date.now();
    if (now - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = now;
    const explained = this.options.pg.explain(error);
    this.options.log.error(
      'usage counters could not reach the PostgreSQL store; requests that need it are refused',
      {
        store: this.options.pg.where,
        error: explained instanceof Error ? explained.message : String(explained),
      },
    );
  }
}
