// Percentiles and medians over plain number arrays.

/** The q-quantile (0..1) of `values`, nearest-rank; undefined for an empty array. */
export function percentile(values, q) {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** p50, p95 and p99 of a list of latencies. */
export function summarize(latencies) {
  return {
    count: latencies.length,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
  };
}

/** Median of the defined numbers in `values` (mean of the middle two for an even count). */
export function median(values) {
  const numbers = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (numbers.length === 0) return undefined;
  numbers.sort((a, b) => a - b);
  const mid = numbers.length >> 1;
  return numbers.length % 2 === 1 ? numbers[mid] : (numbers[mid - 1] + numbers[mid]) / 2;
}

/** a / b when both are usable numbers. */
export function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || b === 0) {
    return undefined;
  }
  return a / b;
}

/** Milliseconds from a process.hrtime.bigint() start to now. */
export function msSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}
