import { afterEach, describe, expect, it, vi } from 'vitest';
import { CpuGovernor, nextDuty } from '../../src/process/limits/cpu-governor.js';
import {
  cpuQuota,
  formatCpuMax,
  parseCpuMax,
  quotaCores,
} from '../../src/process/limits/cpu-quota.js';
import { DutyCycle } from '../../src/process/limits/duty-cycle.js';

describe('cpu quota', () => {
  it('turns cores into a CFS quota per period', () => {
    expect(cpuQuota(0.2)).toEqual({ quotaUs: 20_000, periodUs: 100_000 });
    expect(cpuQuota(2)).toEqual({ quotaUs: 200_000, periodUs: 100_000 });
    expect(cpuQuota(0.001)).toEqual({ quotaUs: 1_000, periodUs: 100_000 });
    expect(() => cpuQuota(0)).toThrow(/positive number of cores, got 0/);
  });

  it('writes and reads cpu.max', () => {
    expect(formatCpuMax(cpuQuota(0.5))).toBe('50000 100000');
    expect(parseCpuMax('50000 100000\n')).toEqual({ quotaUs: 50_000, periodUs: 100_000 });
    expect(parseCpuMax('max 100000')).toEqual({ quotaUs: null, periodUs: 100_000 });
    expect(parseCpuMax('max')).toEqual({ quotaUs: null, periodUs: 100_000 });
    expect(parseCpuMax('lots')).toBeUndefined();
    expect(quotaCores({ quotaUs: 150_000, periodUs: 100_000 })).toBe(1.5);
    expect(quotaCores({ quotaUs: null, periodUs: 100_000 })).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('nextDuty', () => {
  it('lets the group run the share that meets the limit', () => {
    expect(nextDuty(1, 1, 0.2)).toBeCloseTo(0.2);
    // Measured 0.2 at duty 0.2: unthrottled it would use 1 core; keep 0.2.
    expect(nextDuty(0.2, 0.2, 0.2)).toBeCloseTo(0.2);
    // Two busy threads: 2 cores free, so 0.1 of the time.
    expect(nextDuty(1, 2, 0.2)).toBeCloseTo(0.1);
  });

  it('relaxes when the group goes quiet and stops at 1', () => {
    expect(nextDuty(0.2, 0, 0.2)).toBeCloseTo(0.4);
    expect(nextDuty(0.8, 0, 0.2)).toBe(1);
    expect(nextDuty(0.5, 0.1, 0.2)).toBe(1);
  });

  it('never stops the group completely', () => {
    expect(nextDuty(1, 100, 0.01)).toBe(0.02);
  });
});

describe('CpuGovernor', () => {
  const options = { sustainSamples: 3, tolerance: 0.1, mode: 'throttle' as const };

  it('acts only after a sustained excess, once per episode', () => {
    const governor = new CpuGovernor(0.5, options);
    expect(governor.observe(1)).toEqual({ duty: 1 });
    expect(governor.observe(0.3)).toEqual({ duty: 1 });
    expect(governor.observe(1)).toEqual({ duty: 1 });
    expect(governor.observe(1)).toEqual({ duty: 1 });
    const step = governor.observe(1);
    expect(step.violation).toEqual({ cores: 1, action: 'throttle' });
    expect(step.duty).toBeCloseTo(0.5);
    // Throttled use equal to the limit keeps the duty; no new report.
    expect(governor.observe(0.5)).toEqual({ duty: 0.5 });
  });

  it('ends the episode when the group goes quiet', () => {
    const governor = new CpuGovernor(0.5, options);
    for (let i = 0; i < 3; i += 1) governor.observe(1);
    expect(governor.observe(0).duty).toBe(1);
    expect(governor.observe(1)).toEqual({ duty: 1 });
  });

  it('only reports in record mode, again after going under', () => {
    const governor = new CpuGovernor(0.5, { ...options, mode: 'record' });
    const steps = [1, 1, 1, 1, 0.2, 1, 1, 1].map((cores) => governor.observe(cores));
    expect(steps.every((step) => step.duty === 1)).toBe(true);
    expect(steps.map((step) => step.violation?.action ?? '-')).toEqual([
      '-',
      '-',
      'record',
      '-',
      '-',
      '-',
      '-',
      'record',
    ]);
  });
});

describe('DutyCycle', () => {
  afterEach(() => vi.useRealTimers());

  it('continues the group every period and stops it after its share', () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const cycle = new DutyCycle((signal) => log.push(`${Date.now() % 1000} ${signal}`), 100);
    vi.setSystemTime(0);
    cycle.set(0.25);
    vi.advanceTimersByTime(130);
    expect(log).toEqual(['0 SIGCONT', '25 SIGSTOP', '100 SIGCONT', '125 SIGSTOP']);
    cycle.set(1);
    expect(log.at(-1)).toBe('130 SIGCONT');
    vi.advanceTimersByTime(500);
    cycle.stop();
    expect(log).toHaveLength(5);
  });
});
