/**
 * CPU limits as the CFS bandwidth controller wants them: a quota of CPU time
 * per period. 0.5 cores = 50 ms every 100 ms; 2 cores = 200 ms every 100 ms.
 */

export const DEFAULT_CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas under 1 ms. */
const MIN_QUOTA_US = 1_000;

export interface CpuQuota {
  /** null: unlimited. */
  quotaUs: number | null;
  periodUs: number;
}

export function cpuQuota(cores: number, periodUs = DEFAULT_CPU_PERIOD_US): CpuQuota {
  if (!Number.isFinite(cores) || cores <= 0) {
    throw new RangeError(`cpu limit must be a positive number of cores, got ${cores}`);
  }
  return { quotaUs: Math.max(MIN_QUOTA_US, Math.round(cores * periodUs)), periodUs };
}

/** The v2 `cpu.max` text: `<quota> <period>` or `max <period>`. */
export function formatCpuMax(quota: CpuQuota): string {
  return `${quota.quotaUs ?? 'max'} ${quota.periodUs}`;
}

export function parseCpuMax(text: string): CpuQuota | undefined {
  const match = /^\s*(max|\d+)(?:\s+(\d+))?\s*$/.exec(text);
  if (!match) return undefined;
  const [, quota = 'max', period] = match;
  return {
    quotaUs: quota === 'max' ? null : Number(quota),
    periodUs: period === undefined ? DEFAULT_CPU_PERIOD_US : Number(period),
  };
}

/** Cores allowed by a quota (Infinity when unlimited). */
export function quotaCores(quota: CpuQuota): number {
  return quota.quotaUs === null ? Number.POSITIVE_INFINITY : quota.quotaUs / quota.periodUs;
}
