/**
 * When a crashed child may start again. Delays double from `initialDelayMs`
 * up to `maxDelayMs`, and start over once a child has run healthy for
 * `healthyAfterMs`. After `quarantineAfter` crashes within
 * `quarantineWindowMs` the tenant is quarantined (circuit open): requests
 * fail fast until the current delay has passed or an operator resets it.
 * A crash-looping tenant therefore never becomes a fork storm.
 */
export interface RestartPolicyOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  healthyAfterMs: number;
  quarantineAfter: number;
  quarantineWindowMs: number;
  now: () => number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  healthyAfterMs: 60_000,
  quarantineAfter: 5,
  quarantineWindowMs: 60_000,
  now: Date.now,
};

export type RestartVerdict =
  | { kind: 'start' }
  | { kind: 'wait'; delayMs: number }
  | { kind: 'quarantined'; retryAfterMs: number; reason: string };

export type RestartState = 'ok' | 'backoff' | 'quarantined';

export class RestartPolicy {
  private readonly options: RestartPolicyOptions;
  private consecutive = 0;
  private crashTimes: number[] = [];
  private startedAt: number | undefined;
  private notBefore = 0;
  private lastReason = '';
  private quarantinedUntil = 0;
  private totalCrashes = 0;

  constructor(options: Partial<RestartPolicyOptions> = {}) {
    this.options = { ...DEFAULT_RESTART_POLICY, ...options };
  }

  /** May a child start now? */
  verdict(): RestartVerdict {
    const now = this.options.now();
    if (now < this.quarantinedUntil) {
      return {
        kind: 'quarantined',
        retryAfterMs: this.quarantinedUntil - now,
        reason: this.lastReason,
      };
    }
    if (now < this.notBefore) return { kind: 'wait', delayMs: this.notBefore - now };
    return { kind: 'start' };
  }

  get state(): RestartState {
    const verdict = this.verdict();
    return verdict.kind === 'start' ? 'ok' : verdict.kind === 'wait' ? 'backoff' : 'quarantined';
  }

  get crashes(): number {
    return this.totalCrashes;
  }

  get reason(): string {
    return this.lastReason;
  }

  started(): void {
    this.startedAt = this.options.now();
  }

  /** A child died without being asked to (or never got ready). */
  crashed(reason: string): void {
    const now = this.options.now();
    const { options } = this;
    this.totalCrashes += 1;
    this.lastReason = reason;
    if (this.startedAt !== undefined && now - this.startedAt >= options.healthyAfterMs) {
      this.consecutive = 0;
    }
    this.startedAt = undefined;
    this.consecutive += 1;
    const delay = Math.min(
      options.maxDelayMs,
      options.initialDelayMs * 2 ** (this.consecutive - 1),
    );
    this.notBefore = now + delay;
    this.crashTimes = this.crashTimes.filter((time) => now - time < options.quarantineWindowMs);
    this.crashTimes.push(now);
    if (this.crashTimes.length >= options.quarantineAfter) this.quarantinedUntil = this.notBefore;
  }

  /** An operator's reset: forget the crash history. */
  reset(): void {
    this.consecutive = 0;
    this.crashTimes = [];
    this.notBefore = 0;
    this.quarantinedUntil = 0;
  }
}
