/**
 * Latency percentiles, exact from raw values or estimated from a histogram.
 * The buckets are shared by `/metrics` (Prometheus histograms, in seconds)
 * and the hourly rollups, so both tell the same story.
 */

/** Upper bounds of the latency buckets in milliseconds; a last, unbounded bucket follows. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Index of the bucket `ms` falls in (`LATENCY_BUCKETS_MS.length` for the unbounded one). */
export function bucketIndex(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) {
    if (ms <= (LATENCY_BUCKETS_MS[i] as number)) return i;
  }
  return LATENCY_BUCKETS_MS.length;
}

/** Counts one latency into its bucket. */
export function addToBuckets(buckets: number[], ms: number): void {
  const i = bucketIndex(ms);
  buckets[i] = (buckets[i] ?? 0) + 1;
}

export function emptyBuckets(): number[] {
  return new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
}

/** Nearest-rank percentile of ascending `sorted` (p in 0..100); null when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/**
 * Percentile estimated from bucket counts: the nearest rank's bucket, linearly
 * interpolated between its bounds. The unbounded bucket ends at `maxMs`.
 */
export function histogramPercentile(
  counts: readonly number[],
  p: number,
  maxMs: number,
): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let before = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] as number;
    if (before + count >= rank) {
      const lower = i === 0 ? 0 : (LATENCY_BUCKETS_MS[i - 1] as number);
      const upper = Math.min(LATENCY_BUCKETS_MS[i] ?? maxMs, Math.max(maxMs, lower));
      return lower + ((upper - lower) * (rank - before)) / count;
    }
    before += count;
  }
  return maxMs;
}

/**
 * Collects latencies from raw rows (exact) and rolled-up buckets. With only
 * raw values the percentiles are exact; once buckets are mixed in, every
 * value goes through the buckets and the result is an estimate.
 */
export class LatencySummary {
  private values: number[] = [];
  private readonly buckets = emptyBuckets();
  private hasBuckets = false;
  private maxMs = 0;

  add(ms: number): void {
    this.values.push(ms);
    if (ms > this.maxMs) this.maxMs = ms;
  }

  addBuckets(counts: readonly number[], maxMs: number): void {
    this.hasBuckets = true;
    for (let i = 0; i < this.buckets.length; i++) {
      this.buckets[i] = (this.buckets[i] as number) + (counts[i] ?? 0);
    }
    if (maxMs > this.maxMs) this.maxMs = maxMs;
  }

  /** True when the percentiles are estimated from buckets. */
  get approximate(): boolean {
    return this.hasBuckets;
  }

  percentiles(): Percentiles {
    if (this.hasBuckets) {
      for (const value of this.values) {
        addToBuckets(this.buckets, value);
      }
      this.values = [];
      const at = (p: number) => histogramPercentile(this.buckets, p, this.maxMs);
      return { p50: at(50), p95: at(95), p99: at(99) };
    }
    const sorted = Float64Array.from(this.values).sort();
    return {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
    };
  }
}
