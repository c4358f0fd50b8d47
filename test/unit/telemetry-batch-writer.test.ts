import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchWriter } from '../../src/telemetry/batch-writer.js';

describe('the telemetry batch writer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function writer(options: { maxRows?: number; fail?: () => boolean; maxPending?: number } = {}) {
    const batches: number[][] = [];
    const errors: [number, number][] = [];
    const batchWriter = new BatchWriter<number>({
      intervalMs: 1_000,
      maxRows: options.maxRows ?? 100,
      maxPending: options.maxPending,
      write: (batch) => {
        if (options.fail?.()) throw new Error('database is locked');
        if (batch.length > 0) batches.push(batch);
      },
      onError: (_error, pending, dropped) => errors.push([pending, dropped]),
    });
    return { batchWriter, batches, errors };
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
    expect(errors).toEqual([[1, 0]]);
    batchWriter.push(2);
    failing = false;
    vi.advanceTimersByTime(1_000);
    expect(batches).toEqual([[1, 2]]);
    expect(batchWriter.pending).toBe(0);
    batchWriter.close();
  });

  it('drops the oldest records, and says so, when the disk keeps failing', () => {
    const { batchWriter, errors } = writer({ fail: () => true, maxPending: 3 });
    for (let i = 1; i <= 5; i++) batchWriter.push(i);
    vi.advanceTimersByTime(1_000);
    expect(errors).toEqual([[3, 2]]);
    expect(batchWriter.dropped).toBe(2);
    batchWriter.close();
  });
});
