import { describe, expect, it } from 'vitest';
import { CHILD_FIGURES_TYPE, parseChildFigures } from '../../src/core/child-figures.js';
import type { ChildRecord } from '../../src/telemetry/records.js';
import { UsageMeter } from '../../src/telemetry/usage-meter.js';

const MIB = 1024 * 1024;
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);

function meter() {
  let now = T0;
  const records: ChildRecord[] = [];
  const usage = new UsageMeter({ now: () => now, record: (record) => records.push(record) });
  return { usage, records, tick: (ms: number) => (now += ms) };
}

describe('the usage meter', () => {
  it('turns cumulative CPU into deltas and integrates RSS over time', () => {
    const { usage, tick } = meter();
    usage.started('acme', { pid: 10, startMs: 250, restart: false });
    tick(1_000);
    usage.sampled('acme', { pid: 10, cpuSeconds: 0.4, rssBytes: 100 * MIB });
    tick(2_000);
    usage.sampled('acme', { pid: 10, cpuSeconds: 0.5, rssBytes: 50 * MIB });
    const [delta, ...rest] = usage.drain();
    expect(rest).toEqual([]);
    expect(delta).toMatchObject({
      tenant: 'acme',
      pid: 10,
      minute: T0,
      samples: 2,
      rssPeak: 100 * MIB,
    });
    expect(delta?.cpuSeconds).toBeCloseTo(0.5);
    expect(delta?.sampledSeconds).toBe(3);
    expect((delta?.rssByteSeconds ?? 0) / MIB).toBe(100 * 1 + 50 * 2);
    expect(usage.drain()).toEqual([]);
  });

  it('ignores a gap longer than a minute (sampling stopped) instead of billing it', () => {
    const { usage, tick } = meter();
    usage.started('acme', { pid: 10, startMs: 250, restart: false });
    tick(10 * 60_000);
    usage.sampled('acme', { pid: 10, cpuSeconds: 1, rssBytes: MIB });
    expect(usage.drain()[0]).toMatchObject({ sampledSeconds: 0, rssByteSeconds: 0, cpuSeconds: 1 });
  });

  it('splits samples by minute and by child', () => {
    const { usage, tick } = meter();
    usage.sampled('acme', { pid: 1, cpuSeconds: 1, rssBytes: MIB });
    usage.sampled('globex', { pid: 2, cpuSeconds: 1, rssBytes: MIB });
    tick(60_000);
    usage.sampled('acme', { pid: 1, cpuSeconds: 2, rssBytes: MIB });
    const deltas = usage.drain().map((d) => [d.tenant, d.minute - T0, d.cpuSeconds]);
    expect(deltas).toEqual([
      ['acme', 0, 1],
      ['globex', 0, 1],
      ['acme', 60_000, 1],
    ]);
  });

  it('records starts after a crash as restarts (the slot knows), and limit kills', () => {
    const { usage, records } = meter();
    usage.started('acme', { pid: 1, startMs: 300, restart: false });
    usage.exited('acme', { pid: 1, reason: 'idle', crashed: false });
    usage.started('acme', { pid: 2, startMs: 200, restart: false });
    usage.exited('acme', { pid: 2, reason: 'killed', crashed: true, limit: 'memory' });
    usage.started('acme', { pid: 3, startMs: 100, restart: true });
    expect(records.map((r) => [r.event, r.pid, r.restart, r.crashed, r.limit])).toEqual([
      ['start', 1, false, false, null],
      ['exit', 1, false, false, null],
      ['start', 2, false, false, null],
      ['exit', 2, false, true, 'memory'],
      ['start', 3, true, false, null],
    ]);
  });

  it('adds what the child reports over IPC, and ignores anything malformed', () => {
    const { usage } = meter();
    const figures = {
      type: CHILD_FIGURES_TYPE,
      tool_calls: 3,
      tool_errors: 1,
      tool_ms: 4.5,
      db_bytes: 8192,
      rows: 2,
    };
    usage.message('acme', { pid: 1, message: figures });
    usage.message('acme', { pid: 1, message: { ...figures, tool_calls: 2, rows: 5 } });
    usage.message('acme', { pid: 1, message: { ...figures, tool_calls: -1 } });
    usage.message('acme', { pid: 1, message: 'hello' });
    expect(usage.drain()[0]).toMatchObject({
      toolCalls: 5,
      toolErrors: 2,
      toolMs: 9,
      dbBytes: 8192,
      dbRows: 5,
    });
    expect(parseChildFigures({ ...figures, db_bytes: Number.NaN })).toBeUndefined();
    expect(parseChildFigures(null)).toBeUndefined();
  });

  it('puts back what a failed write could not store', () => {
    const { usage } = meter();
    usage.sampled('acme', { pid: 1, cpuSeconds: 1, rssBytes: MIB });
    const drained = usage.drain();
    usage.sampled('acme', { pid: 1, cpuSeconds: 3, rssBytes: 2 * MIB });
    usage.putBack(drained);
    expect(usage.drain()).toMatchObject([{ cpuSeconds: 3, samples: 2, rssPeak: 2 * MIB }]);
  });
});
