import { describe, expect, it } from 'vitest';
import { RestartPolicy } from '../../src/process/restart-policy.js';

function clocked() {
  let now = 1_000_000;
  const policy = new RestartPolicy({
    initialDelayMs: 100,
    maxDelayMs: 1_000,
    healthyAfterMs: 60_000,
    quarantineAfter: 4,
    quarantineWindowMs: 10_000,
    now: () => now,
  });
  return { policy, advance: (ms: number) => (now += ms) };
}

describe('RestartPolicy', () => {
  it('lets a fresh tenant start at once', () => {
    expect(clocked().policy.verdict()).toEqual({ kind: 'start' });
  });

  it('doubles the delay after each crash, up to the maximum', () => {
    const { policy, advance } = clocked();
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      policy.started();
      policy.crashed('exit code 1');
      const verdict = policy.verdict();
      delays.push(verdict.kind === 'wait' ? verdict.delayMs : -1);
      advance(20_000); // past the delay and the quarantine window
    }
    expect(delays).toEqual([100, 200, 400]);
  });

  it('caps the delay', () => {
    const { policy, advance } = clocked();
    for (let i = 0; i < 6; i += 1) {
      policy.crashed('boom');
      advance(20_000);
    }
    policy.crashed('boom');
    expect(policy.verdict()).toEqual({ kind: 'wait', delayMs: 1_000 });
  });

  it('starts over after a child ran healthy for long enough', () => {
    const { policy, advance } = clocked();
    policy.crashed('a');
    advance(20_000);
    policy.crashed('b');
    advance(20_000);
    policy.started();
    advance(60_000);
    policy.crashed('c');
    expect(policy.verdict()).toEqual({ kind: 'wait', delayMs: 100 });
  });

  it('quarantines after too many crashes in the window, until the delay passes', () => {
    const { policy, advance } = clocked();
    for (let i = 0; i < 3; i += 1) {
      policy.crashed(`crash ${i}`);
      advance(1_000);
    }
    expect(policy.state).toBe('ok');
    policy.crashed('crash 3');
    const verdict = policy.verdict();
    expect(verdict).toEqual({ kind: 'quarantined', retryAfterMs: 800, reason: 'crash 3' });
    expect(policy.state).toBe('quarantined');
    advance(800);
    expect(policy.verdict()).toEqual({ kind: 'start' });
  });

  it('forgets everything on an operator reset', () => {
    const { policy } = clocked();
    for (let i = 0; i < 4; i += 1) policy.crashed('x');
    expect(policy.state).toBe('quarantined');
    policy.reset();
    expect(policy.verdict()).toEqual({ kind: 'start' });
    expect(policy.crashes).toBe(4);
  });
});
