import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Violation } from '../../src/process/limits/types.js';
import { type GroupTotals, Watchdog } from '../../src/process/limits/watchdog.js';

const MIB = 1024 * 1024;

function rig(options: { sustainSamples?: number } = {}) {
  const totals = new Map<number, GroupTotals>();
  const signals: string[] = [];
  const violations: Violation[] = [];
  const watchdog = new Watchdog({
    intervalMs: 1_000,
    now: () => Date.now(),
    sustainSamples: options.sustainSamples ?? 3,
    dutyPeriodMs: 100,
    sampler: () => new Map(totals),
    signal: (target, signal) => signals.push(`${target} ${signal}`),
  });
  const set = (pgid: number, value: Partial<GroupTotals>) =>
    totals.set(pgid, {
      rssBytes: 0,
      cpuSeconds: 0,
      pids: 1,
      processes: 1,
      ...totals.get(pgid),
      ...value,
    });
  return { watchdog, set, signals, violations, onViolation: (v: Violation) => violations.push(v) };
}

describe('Watchdog (fake clock, fake /proc)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  it('samples at once and every interval, with CPU use in cores', () => {
    const { watchdog, set, onViolation } = rig();
    set(100, { rssBytes: 10 * MIB, cpuSeconds: 5, pids: 11 });
    const handle = watchdog.watch(100, {}, { onViolation, cpuEnforcedByKernel: false });
    expect(handle.latest()).toMatchObject({
      rssBytes: 10 * MIB,
      cpuSeconds: 5,
      cores: 0,
      pids: 11,
      duty: 1,
    });
    set(100, { cpuSeconds: 5.5 });
    vi.advanceTimersByTime(1_000);
    expect(handle.latest()).toMatchObject({ at: 1_001_000, cpuSeconds: 5.5, cores: 0.5 });
    watchdog.stop();
    watchdog.stop();
  });

  it('reports memory and pids once per excess', () => {
    const { watchdog, set, violations, onViolation } = rig();
    set(100, { rssBytes: 10 * MIB });
    watchdog.watch(100, { memory_mb: 64, pids: 20 }, { onViolation, cpuEnforcedByKernel: true });
    set(100, { rssBytes: 70 * MIB, pids: 25 });
    vi.advanceTimersByTime(3_000);
    set(100, { rssBytes: 30 * MIB, pids: 5 });
    vi.advanceTimersByTime(1_000);
    set(100, { rssBytes: 80 * MIB });
    vi.advanceTimersByTime(1_000);
    expect(violations).toEqual([
      { kind: 'memory', pgid: 100, rssBytes: 70 * MIB, limitBytes: 64 * MIB },
      { kind: 'pids', pgid: 100, pids: 25, limit: 20 },
      { kind: 'memory', pgid: 100, rssBytes: 80 * MIB, limitBytes: 64 * MIB },
    ]);
    watchdog.stop();
  });

  it('throttles a sustained CPU excess with a duty cycle and resumes on stop', () => {
    const { watchdog, set, signals, violations, onViolation } = rig();
    let cpu = 0;
    set(100, { cpuSeconds: cpu });
    const handle = watchdog.watch(100, { cpu: 0.25 }, { onViolation, cpuEnforcedByKernel: false });
    for (let second = 0; second < 3; second += 1) {
      cpu += 1;
      set(100, { cpuSeconds: cpu });
      vi.advanceTimersByTime(1_000);
    }
    expect(violations).toEqual([
      { kind: 'cpu', pgid: 100, cores: 1, limitCores: 0.25, action: 'throttle' },
    ]);
    expect(handle.latest()?.duty).toBeCloseTo(0.25);
    vi.advanceTimersByTime(100);
    expect(signals).toEqual(['-100 SIGCONT', '-100 SIGSTOP', '-100 SIGCONT']);
    handle.stop();
    handle.stop();
    expect(signals.at(-1)).toBe('-100 SIGCONT');
    const count = signals.length;
    vi.advanceTimersByTime(1_000);
    expect(signals).toHaveLength(count);
  });

  it('signals cgroup members outside the group too', () => {
    const { watchdog, set, signals, onViolation } = rig({ sustainSamples: 1 });
    set(100, { cpuSeconds: 0 });
    watchdog.watch(
      100,
      { cpu: 0.5 },
      { onViolation, cpuEnforcedByKernel: false, members: () => [100, 200] },
    );
    set(100, { cpuSeconds: 2 });
    vi.advanceTimersByTime(1_000);
    expect(signals.slice(0, 2)).toEqual(['-100 SIGCONT', '200 SIGCONT']);
    watchdog.stop();
  });

  it('only records CPU when a cgroup caps it, or when told to', () => {
    for (const [kernel, mode] of [
      [true, 'throttle'],
      [false, 'record'],
    ] as const) {
      const signals: string[] = [];
      const violations: Violation[] = [];
      let cpu = 0;
      const watchdog = new Watchdog({
        sustainSamples: 2,
        cpuEnforcement: mode,
        sampler: () => new Map([[100, { rssBytes: 0, cpuSeconds: cpu, pids: 1, processes: 1 }]]),
        signal: (target, signal) => signals.push(`${target} ${signal}`),
      });
      watchdog.watch(
        100,
        { cpu: 0.5 },
        { onViolation: (v) => violations.push(v), cpuEnforcedByKernel: kernel },
      );
      for (let i = 0; i < 3; i += 1) {
        cpu += 1;
        vi.advanceTimersByTime(1_000);
      }
      expect(violations).toMatchObject([{ kind: 'cpu', action: 'record' }]);
      expect(signals).toEqual([]);
      watchdog.stop();
    }
  });
  it('judges memory and pids by updated limits from the next sample on', () => {
    const { watchdog, set, violations, onViolation } = rig();
    set(100, { rssBytes: 50 * MIB, pids: 12 });
    const handle = watchdog.watch(
      100,
      { memory_mb: 64, pids: 20 },
      {
        onViolation,
        cpuEnforcedByKernel: true,
      },
    );
    handle.update({ memory_mb: 40, pids: 10 }, true);
    expect(violations).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(violations).toEqual([
      { kind: 'memory', pgid: 100, rssBytes: 50 * MIB, limitBytes: 40 * MIB },
      { kind: 'pids', pgid: 100, pids: 12, limit: 10 },
    ]);
    watchdog.stop();
  });

  it('re-paces a throttled group to a new CPU limit, and lets it go when the limit is removed', () => {
    const { watchdog, set, signals, violations, onViolation } = rig();
    let cpu = 0;
    set(100, { cpuSeconds: cpu });
    const handle = watchdog.watch(100, { cpu: 0.25 }, { onViolation, cpuEnforcedByKernel: false });
    for (let second = 0; second < 3; second += 1) {
      cpu += 1;
      set(100, { cpuSeconds: cpu });
      vi.advanceTimersByTime(1_000);
    }
    expect(handle.latest()?.duty).toBeCloseTo(0.25);
    // Throttled to a quarter, the group uses 0.25 cores: it would use 1 if let run.
    handle.update({ cpu: 0.5 }, false);
    cpu += 0.25;
    set(100, { cpuSeconds: cpu });
    vi.advanceTimersByTime(1_000);
    expect(handle.latest()?.duty).toBeCloseTo(0.5);
    expect(violations).toHaveLength(1);

    handle.update({}, false);
    expect(signals.at(-1)).toBe('-100 SIGCONT');
    const count = signals.length;
    cpu += 1;
    set(100, { cpuSeconds: cpu });
    vi.advanceTimersByTime(1_000);
    expect(handle.latest()?.duty).toBe(1);
    expect(signals).toHaveLength(count);
    watchdog.stop();
  });

  it('stops throttling once a cgroup caps CPU instead', () => {
    const { watchdog, set, signals, onViolation } = rig({ sustainSamples: 1 });
    set(100, { cpuSeconds: 0 });
    const handle = watchdog.watch(100, { cpu: 0.5 }, { onViolation, cpuEnforcedByKernel: false });
    set(100, { cpuSeconds: 2 });
    vi.advanceTimersByTime(1_000);
    expect(handle.latest()?.duty).toBeLessThan(1);
    handle.update({ cpu: 0.5 }, true);
    expect(signals.at(-1)).toBe('-100 SIGCONT');
    const count = signals.length;
    set(100, { cpuSeconds: 4 });
    vi.advanceTimersByTime(1_000);
    expect(signals).toHaveLength(count);
    watchdog.stop();
  });
});
