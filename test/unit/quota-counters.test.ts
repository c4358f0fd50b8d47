import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { CounterStore } from '../../src/quota/counter-store.js';
import { type CounterCheck, SharedCounters } from '../../src/quota/shared-counters.js';
import { DAY, MINUTE, MONTH } from '../../src/quota/windows.js';
import { openSupervisorDatabase } from '../../src/store/database.js';

/** A clock the test moves by hand, starting on a second boundary. */
function fakeClock(start = Date.UTC(2025, 0, 15, 12, 0, 0)) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    set: (ms: number) => {
      now = ms;
    },
  };
}

describe('shared usage counters', () => {
  let dir: string;
  const databases: Database.Database[] = [];
  const counters: SharedCounters[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-quota-'));
  });

  afterEach(() => {
    for (const counter of counters.splice(0)) counter.close();
    for (const db of databases.splice(0)) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One supervisor process's view: its own connection to the shared database. */
  const process = (clock: { now: () => number }, batch = 16) => {
    const db = openSupervisorDatabase(dir);
    databases.push(db);
    const counter = new SharedCounters({
      store: new CounterStore(db),
      log: silentLogger,
      now: clock.now,
      batch,
      flushIntervalMs: 3_600_000,
    });
    counters.push(counter);
    return { counter, db };
  };

  const perMinute = (limit: number, scope = 'minute:tenant:acme'): CounterCheck => ({
    scope,
    window: MINUTE,
    limit,
  });

  const admitted = (counter: SharedCounters, checks: CounterCheck[], times: number) => {
    let count = 0;
    for (let i = 0; i < times; i++) if (counter.tryAdmit(checks).admitted) count++;
    return count;
  };

  it.each([1, 5, 16, 17, 100, 1000])('admits exactly %i a minute, then refuses', (limit) => {
    const clock = fakeClock();
    const { counter } = process(clock);
    expect(admitted(counter, [perMinute(limit)], limit)).toBe(limit);
    const refused = counter.tryAdmit([perMinute(limit)]);
    expect(refused).toEqual({ admitted: false, refused: 0, used: limit, retryAfterMs: 61_000 });
  });

  it('frees the window exactly 61 s into the second the requests were made in', () => {
    const clock = fakeClock();
    const { counter } = process(clock);
    clock.advance(400);
    expect(admitted(counter, [perMinute(3)], 3)).toBe(3);
    clock.advance(30_000);
    expect(counter.tryAdmit([perMinute(3)])).toMatchObject({
      admitted: false,
      retryAfterMs: 30_600,
    });
    clock.set(Date.UTC(2025, 0, 15, 12, 1, 0, 999));
    expect(counter.tryAdmit([perMinute(3)])).toMatchObject({ admitted: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(admitted(counter, [perMinute(3)], 4)).toBe(3);
  });

  it('slides: requests spread over the minute come free one second at a time', () => {
    const clock = fakeClock();
    const { counter } = process(clock);
    for (let second = 0; second < 4; second++) {
      expect(counter.tryAdmit([perMinute(4)]).admitted).toBe(true);
      clock.advance(1_000);
    }
    clock.set(Date.UTC(2025, 0, 15, 12, 1, 0));
    expect(counter.tryAdmit([perMinute(4)])).toMatchObject({
      admitted: false,
      retryAfterMs: 1_000,
    });
    clock.advance(1_000);
    expect(admitted(counter, [perMinute(4)], 2)).toBe(1);
  });

  it('refuses on the first full scope and counts nothing anywhere then', () => {
    const clock = fakeClock();
    const { counter } = process(clock);
    const tenant = perMinute(5);
    const alice = perMinute(2, 'minute:user:acme:alice');
    const bob = perMinute(2, 'minute:user:acme:bob');
    expect(admitted(counter, [tenant, alice], 3)).toBe(2);
    expect(counter.tryAdmit([tenant, alice])).toMatchObject({ admitted: false, refused: 1 });
    expect(admitted(counter, [tenant, bob], 3)).toBe(2);
    // alice's and bob's refusals did not use the tenant's budget: one left.
    expect(counter.tryAdmit([tenant, perMinute(2, 'minute:user:acme:carol')]).admitted).toBe(true);
    expect(counter.tryAdmit([tenant, perMinute(2, 'minute:user:acme:dave')])).toMatchObject({
      admitted: false,
      refused: 0,
    });
  });

  it('resets a daily count at 00:00 UTC and a monthly one on the 1st', () => {
    const clock = fakeClock(Date.UTC(2025, 0, 31, 23, 59, 59, 500));
    const { counter } = process(clock);
    const day: CounterCheck = { scope: 'day:tool_calls:acme', window: DAY, limit: 2 };
    const month: CounterCheck = { scope: 'month:tool_calls:acme', window: MONTH, limit: 3 };
    expect(admitted(counter, [day, month], 3)).toBe(2);
    expect(counter.tryAdmit([day, month])).toMatchObject({ admitted: false, retryAfterMs: 500 });
    clock.advance(500);
    expect(admitted(counter, [day, month], 2)).toBe(2);
    // February 2nd: a new day; the month (from the 1st) holds 2 of 3.
    clock.advance(86_400_000);
    expect(counter.tryAdmit([day, month])).toMatchObject({ admitted: true });
    expect(counter.tryAdmit([day, month])).toMatchObject({
      admitted: false,
      refused: 1,
      retryAfterMs: Date.UTC(2025, 2, 1) - clock.now(),
    });
  });

  it('keeps counts across a restart (a new process on the same database)', () => {
    const clock = fakeClock();
    const first = process(clock);
    const day: CounterCheck = { scope: 'day:tool_calls:acme', window: DAY, limit: 100 };
    expect(admitted(first.counter, [day], 60)).toBe(60);
    first.counter.close();
    const second = process(clock);
    expect(admitted(second.counter, [day], 100)).toBe(40);
  });

  it('writes far from the limit only in batches; a crash loses fewer than one batch', () => {
    const clock = fakeClock();
    const first = process(clock, 8);
    const day: CounterCheck = { scope: 'day:tool_calls:acme', window: DAY, limit: 1000 };
    const stored = () =>
      (first.db.prepare('SELECT sum(count) AS n FROM quota_counters').get() as { n: number | null })
        .n ?? 0;
    expect(first.counter.tryAdmit([day]).admitted).toBe(true);
    expect(stored()).toBe(1); // the first use of a scope reads and writes at once
    expect(admitted(first.counter, [day], 7)).toBe(7);
    expect(stored()).toBe(1); // seven pending in memory
    expect(admitted(first.counter, [day], 1)).toBe(1);
    expect(stored()).toBe(9); // the eighth wrote the batch
    expect(admitted(first.counter, [day], 3)).toBe(3);
    // "Crash": the process goes without close(); its 3 pending admissions are lost.
    counters.splice(counters.indexOf(first.counter), 1);
    const second = process(clock, 8);
    expect(admitted(second.counter, [day], 1000)).toBe(1000 - 9);
  });

  it('lets two processes share one limit exactly near it, and within (P-1)(B-1) far from it', () => {
    const clock = fakeClock();
    const a = process(clock, 4);
    const b = process(clock, 4);
    const small = perMinute(10);
    // Within B of the limit every decision reads the other's count: exact.
    let total = 0;
    for (let i = 0; i < 8; i++) {
      if (a.counter.tryAdmit([small]).admitted) total++;
      if (b.counter.tryAdmit([small]).admitted) total++;
    }
    expect(total).toBe(10);

    const large = perMinute(100, 'minute:tenant:globex');
    total = 0;
    for (let i = 0; i < 80; i++) {
      if (a.counter.tryAdmit([large]).admitted) total++;
      if (b.counter.tryAdmit([large]).admitted) total++;
    }
    expect(total).toBeGreaterThanOrEqual(100);
    expect(total).toBeLessThanOrEqual(100 + (2 - 1) * (4 - 1));
  });

  it('prunes minute buckets that no longer count', () => {
    const clock = fakeClock();
    const { counter, db } = process(clock);
    counter.tryAdmit([perMinute(10)]);
    clock.advance(5 * 60_000);
    counter.flush();
    const rows = db
      .prepare("SELECT count(*) AS n FROM quota_counters WHERE scope LIKE 'minute:%'")
      .get();
    expect(rows).toEqual({ n: 0 });
  });
});
