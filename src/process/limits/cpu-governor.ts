/**
 * Decides, from one CPU reading per watchdog sample, when a child has been
 * over its CPU limit long enough to act, and how hard to throttle it: the
 * duty cycle is the fraction of time the process group may run.
 * Pure: feed it readings, it answers; no clock, no signals.
 */

export type CpuEnforcement = 'throttle' | 'record';

export interface GovernorOptions {
  /** Consecutive samples over the limit before acting. */
  sustainSamples: number;
  /** Readings up to limit × (1 + tolerance) do not count as over. */
  tolerance: number;
  mode: CpuEnforcement;
  /** Never stop the group for more than this share of the time. */
  minDuty?: number;
}

export interface GovernorStep {
  /** 1: run freely. */
  duty: number;
  /** Set once when a sustained excess starts. */
  violation?: { cores: number; action: CpuEnforcement };
}

/**
 * Next duty cycle: the reading taken while running a `duty` share of the time
 * tells how much the group would use unthrottled (reading / duty); the new
 * duty lets it have `limit` of that. Near-idle readings relax the throttle.
 */
export function nextDuty(duty: number, cores: number, limitCores: number, minDuty = 0.02): number {
  if (cores < 0.001) return Math.min(1, duty * 2);
  const unthrottled = cores / duty;
  const target = limitCores / unthrottled;
  if (target >= 0.95) return 1;
  return Math.min(1, Math.max(minDuty, target));
}

export class CpuGovernor {
  private duty = 1;
  private recent: number[] = [];
  private inEpisode = false;

  constructor(
    /** Settable: a new limit takes effect at the next reading, keeping the window. */
    public limitCores: number,
    private readonly options: GovernorOptions,
  ) {}

  get mode(): CpuEnforcement {
    return this.options.mode;
  }

  observe(cores: number): GovernorStep {
    const { sustainSamples, tolerance, mode, minDuty } = this.options;
    this.recent.push(cores);
    if (this.recent.length > sustainSamples) this.recent.shift();
    if (this.duty < 1) {
      this.duty = nextDuty(this.duty, cores, this.limitCores, minDuty);
      if (this.duty >= 1) this.endEpisode();
      return { duty: this.duty };
    }
    const threshold = this.limitCores * (1 + tolerance);
    const over =
      this.recent.length === sustainSamples && this.recent.every((reading) => reading > threshold);
    if (!over) {
      if (cores <= threshold) this.inEpisode = false;
      return { duty: 1 };
    }
    if (this.inEpisode) return { duty: 1 };
    this.inEpisode = true;
    const average = this.recent.reduce((sum, reading) => sum + reading, 0) / this.recent.length;
    if (mode === 'throttle') this.duty = nextDuty(1, average, this.limitCores, minDuty);
    return { duty: this.duty, violation: { cores: average, action: mode } };
  }

  private endEpisode(): void {
    this.duty = 1;
    this.inEpisode = false;
    this.recent = [];
  }
}
