import type { Logger } from '../core/logger.js';
import type { CounterStore } from './counter-store.js';
import { type CounterWindow, MINUTE, retryAfterMs } from './windows.js';

export interface CounterCheck {
  /** What is counted, e.g. `minute:tenant:acme`; the window's name comes first. */
  scope: string;
  window: CounterWindow;
  limit: number;
}

export type Admission =
  | { admitted: true }
  | { admitted: false; refused: number; used: number; retryAfterMs: number };

/**
 * What the quota stage counts with. The embedded store decides at once (a
 * plain value); the PostgreSQL one decides from memory when it can and
 * returns a promise only when it has to ask the database.
 */
export interface UsageCounters {
  /** Counts one request in every scope, or in none when any scope is at its limit. */
  tryAdmit(checks: readonly CounterCheck[]): Admission | Promise<Admission>;
  /** Writes or gives back what is pending; call before the store closes. Idempotent. */
  close(): void | Promise<void>;
}

export interface SharedCountersOptions {
  store: CounterStore;
  log: Logger;
  now?: () => number;
  /** A fixed batch size B instead of `batchFor(limit)` (tests). */
  batch?: number;
  /** Pending counts are written, and other processes' read, at least this often. */
  flushIntervalMs?: number;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 1_000;
/** B is a 32nd of the limit (about 3 %), between 1 and MAX_BATCH. */
export const BATCH_DIVISOR = 32;
export const MAX_BATCH = 64;
/** A scope unused this long is forgotten (its counts stay in the database). */
const IDLE_MS = 2 * 60_000;

/** B for a limit: how many admissions a process may count in memory before writing them. */
export function batchFor(limit: number): number {
  return Math.max(1, Math.min(MAX_BATCH, Math.floor(limit / BATCH_DIVISOR)));
}

interface ScopeState {
  window: CounterWindow;
  /** Every process's count (this one's written admissions included) at the last read. */
  synced: number;
  loaded: boolean;
  /** This process's admissions not yet written, by bucket. */
  pending: Map<number, number>;
  pendingTotal: number;
  /** Refused until then (for this limit): counts only grow until their buckets expire. */
  refusedUntil: number;
  refusedLimit: number;
  refusedUsed: number;
  lastUsed: number;
}

/**
 * Usage counters shared by every supervisor process on the machine, through
 * the supervisor's database, without a database write per request. With B =
 * `batchFor(limit)`:
 *
 * - more than B below the limit (in this process's view), an admission is
 *   counted in memory and written later, together with up to B−1 others;
 * - within B of the limit, after B pending admissions, or for a scope seen
 *   the first time, the decision is one IMMEDIATE transaction: write what is
 *   pending, read every process's count, count the request;
 * - a refusal is remembered until the window frees up (counts only grow
 *   until then), so a flood of refused requests costs no I/O.
 *
 * So one process alone is exact; P processes together exceed a limit by at
 * most (P−1)·(B−1), under 3 % of it per extra process; a crash loses at most
 * B−1 admissions per scope, so after a restart up to that many more get in.
 * The view between reads ignores buckets that expired since, so it errs
 * towards the exact path, never towards admitting. If the database fails,
 * this process goes on counting in memory and says so in the log.
 */
export class SharedCounters implements UsageCounters {
  private readonly scopes = new Map<string, ScopeState>();
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private lastPrune = 0;
  private lastFailureLog = 0;
  private closed = false;

  constructor(private readonly options: SharedCountersOptions) {
    this.now = options.now ?? Date.now;
    this.timer = setInterval(
      () => this.flush(),
      options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
    );
    this.timer.unref();
  }

  /** Counts one request in every scope, or in none when any scope is at its limit. */
  tryAdmit(checks: readonly CounterCheck[]): Admission {
    const now = this.now();
    const states = checks.map((check) => this.state(check, now));
    const remembered = rememberedRefusal(checks, states, now);
    if (remembered) return remembered;
    if (checks.every((check, i) => this.fastPathFits(check, states[i] as ScopeState))) {
      for (const state of states) this.addPending(state, now);
      return { admitted: true };
    }
    try {
      return this.options.store.exclusive(() => this.decideShared(checks, states, now));
    } catch (error) {
      this.reportFailure(error);
      return this.decideLocally(checks, states, now);
    }
  }

  /** Writes every pending count and re-reads the scopes in use. */
  flush(): void {
    const now = this.now();
    try {
      this.options.store.exclusive(() => {
        for (const [scope, state] of this.scopes) {
          this.writePending(scope, state);
          if (now - state.lastUsed > IDLE_MS) this.scopes.delete(scope);
          else this.load(scope, state, now);
        }
        if (now - this.lastPrune > 60_000) {
          this.lastPrune = now;
          this.options.store.prune(`${MINUTE.name}:`, MINUTE.firstCounted(now) - 60);
        }
      });
    } catch (error) {
      this.reportFailure(error);
    }
  }

  /** Writes what is pending and stops the timer; call before the database closes. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
  }

  private batch(check: CounterCheck): number {
    return this.options.batch ?? batchFor(check.limit);
  }

  private fastPathFits(check: CounterCheck, state: ScopeState): boolean {
    const batch = this.batch(check);
    if (!state.loaded || state.pendingTotal + 1 >= batch) return false;
    return state.synced + state.pendingTotal + 1 <= check.limit - batch;
  }

  private decideShared(
    checks: readonly CounterCheck[],
    states: ScopeState[],
    now: number,
  ): Admission {
    checks.forEach((check, i) => {
      const state = states[i] as ScopeState;
      this.writePending(check.scope, state);
      this.load(check.scope, state, now);
    });
    for (const [i, check] of checks.entries()) {
      const state = states[i] as ScopeState;
      if (state.synced + 1 <= check.limit) continue;
      const counts = this.options.store.read(check.scope, check.window.firstCounted(now));
      return this.refuse(i, check, state, counts, now);
    }
    checks.forEach((check, i) => {
      const state = states[i] as ScopeState;
      this.options.store.add(check.scope, check.window.bucketOf(now), 1);
      state.synced += 1;
    });
    return { admitted: true };
  }

  /** Without the database: this process's own view decides, pending writes wait. */
  private decideLocally(
    checks: readonly CounterCheck[],
    states: ScopeState[],
    now: number,
  ): Admission {
    for (const [i, check] of checks.entries()) {
      const state = states[i] as ScopeState;
      if (state.synced + state.pendingTotal + 1 <= check.limit) continue;
      const counts = new Map(state.pending);
      counts.set(check.window.firstCounted(now), state.synced);
      return this.refuse(i, check, state, counts, now);
    }
    for (const state of states) this.addPending(state, now);
    return { admitted: true };
  }

  private refuse(
    index: number,
    check: CounterCheck,
    state: ScopeState,
    counts: Map<number, number>,
    now: number,
  ): Admission {
    const wait = retryAfterMs(check.window, counts, check.limit, now);
    let used = 0;
    for (const count of counts.values()) used += count;
    state.refusedUntil = now + wait;
    state.refusedLimit = check.limit;
    state.refusedUsed = used;
    return { admitted: false, refused: index, used, retryAfterMs: wait };
  }

  private state(check: CounterCheck, now: number): ScopeState {
    let state = this.scopes.get(check.scope);
    if (!state) {
      state = {
        window: check.window,
        synced: 0,
        loaded: false,
        pending: new Map(),
        pendingTotal: 0,
        refusedUntil: 0,
        refusedLimit: 0,
        refusedUsed: 0,
        lastUsed: now,
      };
      this.scopes.set(check.scope, state);
    }
    state.lastUsed = now;
    return state;
  }

  private addPending(state: ScopeState, now: number): void {
    const bucket = state.window.bucketOf(now);
    state.pending.set(bucket, (state.pending.get(bucket) ?? 0) + 1);
    state.pendingTotal += 1;
  }

  private writePending(scope: string, state: ScopeState): void {
    for (const [bucket, count] of state.pending) this.options.store.add(scope, bucket, count);
    state.pending.clear();
    state.pendingTotal = 0;
  }

  private load(scope: string, state: ScopeState, now: number): void {
    state.synced = this.options.store.total(scope, state.window.firstCounted(now));
    state.loaded = true;
  }

  private reportFailure(error: unknown): void {
    const now = Date.now();
    if (now - this.lastFailureLog < 60_000) return;
    this.lastFailureLog = now;
    this.options.log.error('usage counters could not be written; counting in this process only', {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** What a refusal leaves behind: refused until then, for this limit, with this much used. */
export interface RefusalMemory {
  refusedUntil: number;
  refusedLimit: number;
  refusedUsed: number;
}

/**
 * A refusal still in force for one of `checks` (counts only grow until their
 * buckets expire, so it holds without asking the store), or undefined.
 */
export function rememberedRefusal(
  checks: readonly CounterCheck[],
  states: readonly RefusalMemory[],
  now: number,
): Admission | undefined {
  for (const [i, check] of checks.entries()) {
    const state = states[i] as RefusalMemory;
    if (state.refusedUntil > now && state.refusedLimit === check.limit) {
      return {
        admitted: false,
        refused: i,
        used: state.refusedUsed,
        retryAfterMs: state.refusedUntil - now,
      };
    }
  }
  return undefined;
}
