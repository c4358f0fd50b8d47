/**
 * At most `burst` events per window of `intervalMs` (a window opens with the
 * first event after the last one closed). Events beyond it are only counted,
 * and the next admitted one learns how many there were: a flood is reported
 * in a few lines, and nothing is left out without a word.
 */
export class BurstLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private refused = 0;

  constructor(
    private readonly burst: number,
    private readonly intervalMs: number,
  ) {}

  /** Undefined when refused; else how many were refused before this one. */
  admit(now: number): number | undefined {
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.burst) {
      this.refused += 1;
      return undefined;
    }
    this.inWindow += 1;
    return this.takeRefused();
  }

  /** How many were refused since the last admitted event (and starts counting again). */
  takeRefused(): number {
    const refused = this.refused;
    this.refused = 0;
    return refused;
  }
}
