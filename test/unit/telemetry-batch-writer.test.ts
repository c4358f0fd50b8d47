import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchWriter } from '../../src/telemetry/batch-writer.js';

describe('the telemetry batch writer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** A store that is locked while `fail()` says so, and refuses any batch holding a negative row. */
  function writer(options: { maxRows?: number; fail?: () => boolean; maxPending?: number } = {}) {
    const batches: number[][] = [];
    const errors: number[] = [];
    const dropped: number[][] = [];
    const batchWriter = new BatchWriter<number>({
      intervalMs: 1_000,
      maxRows: options.maxRows ?? 100,
      maxPending: options.maxPending,
      write: (batch) => {
        if (options.fail?.()) throw new Error('database is locked');
        if (batch.some((row) => row < 0)) throw new RangeError('this row cannot be stored');
        if (batch.length > 0) batches.push(batch);
      },
      isUnavailable: (error) => error instanceof Error && /locked/.test(error.message),
      onError: (_error, pending) => errors.push(pending),
      onDropped: (records) => dropped.push([...records]),
    });
    return { batchWriter, batches, errors, dropped };
  }

  it('never writes on the caller’s path, and writes one batch per interval', () => {
    const { batchWriter, batches } = writer();
    batchWriter.push(1);
    batchWriter.push(2);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(999);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[1, 2]]);
    batchWriter.push(3);
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1, 2], [3]]);
    batchWriter.close();
  });

  it('writes a full batch on the next turn of the event loop, before the interval', () => {
    const { batchWriter, batches } = writer({ maxRows: 3 });
    batchWriter.push(1);
    batchWriter.push(2);
    batchWriter.push(3);
    batchWriter.push(4); // same tick: still one batch
    expect(batches).toEqual([]);
    vi.advanceTimersToNextTimer(); // the setImmediate
    expect(batches).toEqual([[1, 2, 3, 4]]);
    batchWriter.close();
  });

  it('writes everything left on close, and nothing after', () => {
    const { batchWriter, batches } = writer();
    batchWriter.push(1);
    batchWriter.close();
    expect(batches).toEqual([[1]]);
    batchWriter.push(2);
    batchWriter.close();
    vi.advanceTimersByTime(5_000);
    expect(batches).toEqual([[1]]);
  });

  it('keeps a failed batch for the next attempt, in order', () => {
    let failing = true;
    const { batchWriter, batches, errors } = writer({ fail: () => failing });
    batchWriter.push(1);
    vi.advanceTimersByTime(1_000);
    expect(errors).toEqual([1]);
    batchWriter.push(2);
    failing = false;
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1, 2]]);
    expect(batchWriter.pending).toBe(0);
    batchWriter.close();
  });

  it('drops the oldest records, and says so, when the disk keeps failing', () => {
    const { batchWriter, errors, dropped } = writer({ fail: () => true, maxPending: 3 });
    for (let i = 1; i <= 5; i++) batchWriter.push(i);
    vi.advanceTimersByTime(1_000);
    expect(errors).toEqual([3]);
    expect(dropped).toEqual([[1, 2]]);
    expect(batchWriter.dropped).toBe(2);
    batchWriter.close();
  });

  it('writes the good rows of a batch and drops only the one that cannot be stored', () => {
    const { batchWriter, batches, errors, dropped } = writer();
    for (const row of [1, -2, 3]) batchWriter.push(row);
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1], [3]]);
    expect(dropped).toEqual([[-2]]);
    expect(errors).toEqual([]);
    expect(batchWriter.pending).toBe(0);
    // The next batch is not held up by it.
    batchWriter.push(4);
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1], [3], [4]]);
    expect(batchWriter.dropped).toBe(1);
    batchWriter.close();
  });

  it('keeps the rest of a batch when the store goes away while it is written row by row', () => {
    let writes = 0;
    const { batchWriter, batches, errors, dropped } = writer({ fail: () => ++writes > 3 });
    for (const row of [1, -2, 3, 4]) batchWriter.push(row);
    // The batch fails for -2; row by row, 1 is written, -2 fails, then the store is locked.
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1]]);
    expect(dropped).toEqual([[-2]]);
    expect(errors).toEqual([2]);
    expect(batchWriter.pending).toBe(2);
    batchWriter.close();
  });

  it('drops, and says so, what the store cannot take at close', () => {
    const { batchWriter, dropped } = writer({ fail: () => true });
    batchWriter.push(1);
    batchWriter.push(2);
    batchWriter.close();
    expect(dropped).toEqual([[1, 2]]);
    expect(batchWriter.dropped).toBe(2);
    expect(batchWriter.pending).toBe(0);
  });

  /** A store answering with promises the test settles: the PostgreSQL shape. */
  function asyncWriter(options: { maxRows?: number; maxPending?: number } = {}) {
    const calls: { batch: number[]; settle: (error?: Error) => void }[] = [];
    const written: number[][] = [];
    const errors: number[] = [];
    const dropped: number[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const batchWriter = new BatchWriter<number>({
      intervalMs: 1_000,
      maxRows: options.maxRows ?? 100,
      maxPending: options.maxPending,
      write: (batch) => {
        if (batch.length === 0) return undefined;
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise<void>((resolve, reject) => {
          calls.push({
            batch: [...batch],
            settle: (error) => {
              inFlight -= 1;
              if (error) reject(error);
              else {
                written.push([...batch]);
                resolve();
              }
            },
          });
        });
      },
      isUnavailable: (error) => error instanceof Error && /connection/.test(error.message),
      onError: (_error, pending) => errors.push(pending),
      onDropped: (records) => dropped.push([...records]),
    });
    /** Settles the next unsettled write; a promise for the turn after. */
    const answer = async (error?: Error) => {
      const call = calls.shift();
      if (!call) throw new Error('no write is waiting');
      call.settle(error);
      // Let the writer's continuations run.
      for (let i = 0; i < 10; i++) await Promise.resolve();
      return call.batch;
    };
    return {
      batchWriter,
      calls,
      written,
      errors,
      dropped,
      answer,
      maxInFlight: () => maxInFlight,
    };
  }

  it('keeps one asynchronous write in flight; flushes asked for meanwhile become one batch', async () => {
    const { batchWriter, calls, written, answer, maxInFlight } = asyncWriter();
    batchWriter.push(1);
    const first = batchWriter.flush();
    expect(first).toBeInstanceOf(Promise);
    batchWriter.push(2);
    const second = batchWriter.flush();
    batchWriter.push(3);
    vi.advanceTimersByTime(1_000); // the timer's flush joins the same follow-up
    const third = batchWriter.flush();
    expect(third).toBe(second);
    expect(calls.map((call) => call.batch)).toEqual([[1]]);
    expect(await answer()).toEqual([1]);
    expect(calls.map((call) => call.batch)).toEqual([[2, 3]]);
    await answer();
    await Promise.all([first, second]);
    expect(written).toEqual([[1], [2, 3]]);
    expect(maxInFlight()).toBe(1);
    expect(batchWriter.flush()).toBeUndefined(); // nothing queued: no write at all
    await batchWriter.close();
  });

  it('keeps an asynchronous batch the store could not take, in order, for the next flush', async () => {
    const { batchWriter, written, errors, dropped, answer } = asyncWriter();
    batchWriter.push(1);
    batchWriter.push(2);
    const flushed = batchWriter.flush();
    batchWriter.push(3);
    await answer(new Error('connection terminated'));
    await flushed;
    expect(errors).toEqual([3]);
    expect(batchWriter.pending).toBe(3);
    const retried = batchWriter.flush();
    await answer();
    await retried;
    expect(written).toEqual([[1, 2, 3]]);
    expect(dropped).toEqual([]);
    await batchWriter.close();
  });

  it('writes an asynchronous batch row by row after a row’s failure, dropping only that row', async () => {
    const { batchWriter, written, dropped, errors, answer } = asyncWriter();
    for (const row of [1, 2, 3]) batchWriter.push(row);
    const flushed = batchWriter.flush();
    expect(await answer(new RangeError('bad row'))).toEqual([1, 2, 3]);
    expect(await answer()).toEqual([1]);
    expect(await answer(new RangeError('bad row'))).toEqual([2]);
    expect(await answer()).toEqual([3]);
    await flushed;
    expect(written).toEqual([[1], [3]]);
    expect(dropped).toEqual([[2]]);
    expect(errors).toEqual([]);
    expect(batchWriter.dropped).toBe(1);
    await batchWriter.close();
  });

  it('keeps the rest when the store goes away during an asynchronous row-by-row retry', async () => {
    const { batchWriter, written, dropped, errors, answer } = asyncWriter();
    for (const row of [1, 2, 3, 4]) batchWriter.push(row);
    const flushed = batchWriter.flush();
    await answer(new RangeError('bad row'));
    await answer(); // 1
    await answer(new RangeError('bad row')); // 2
    await answer(new Error('connection terminated')); // 3: the rest waits
    await flushed;
    expect(written).toEqual([[1]]);
    expect(dropped).toEqual([[2]]);
    expect(errors).toEqual([2]);
    expect(batchWriter.pending).toBe(2);
    const closed = batchWriter.close();
    await answer(new Error('connection terminated'));
    await closed;
    expect(dropped).toEqual([[2], [3, 4]]);
  });

  it('closes after the write in flight, writing what came meanwhile, and resolves when done', async () => {
    const { batchWriter, written, answer } = asyncWriter();
    batchWriter.push(1);
    const flushed = batchWriter.flush();
    batchWriter.push(2);
    let closed = false;
    const closing = batchWriter.close().then(() => {
      closed = true;
    });
    expect(batchWriter.close()).toBe(batchWriter.close());
    batchWriter.push(3); // after close: ignored
    await answer();
    expect(closed).toBe(false);
    await answer();
    await Promise.all([flushed, closing]);
    expect(closed).toBe(true);
    expect(written).toEqual([[1], [2]]);
  });
});
