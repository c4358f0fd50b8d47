import { describe, expect, it } from 'vitest';
import {
  bucketIndex,
  emptyBuckets,
  histogramPercentile,
  LATENCY_BUCKETS_MS,
  LatencySummary,
  percentile,
} from '../../src/telemetry/latency.js';

describe('percentiles', () => {
  it('uses the nearest rank on sorted values', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('rounds the rank up, so a small sample reports its slow tail', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile([1, 2, 3, 1000], 99)).toBe(1000);
  });

  it('puts a latency in the first bucket whose bound is not below it', () => {
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(1)).toBe(0);
    expect(bucketIndex(1.01)).toBe(1);
    expect(bucketIndex(60_000)).toBe(LATENCY_BUCKETS_MS.length - 1);
    expect(bucketIndex(60_001)).toBe(LATENCY_BUCKETS_MS.length);
  });

  it('estimates from buckets by interpolating inside the nearest rank’s bucket', () => {
    const counts = emptyBuckets();
    counts[bucketIndex(3)] = 10; // (2.5, 5]
    expect(histogramPercentile(counts, 50, 5)).toBeCloseTo(2.5 + 2.5 * 0.5);
    expect(histogramPercentile(counts, 100, 5)).toBe(5);
    expect(histogramPercentile(emptyBuckets(), 50, 0)).toBeNull();
  });

  it('ends the unbounded bucket at the largest value seen', () => {
    const counts = emptyBuckets();
    counts[LATENCY_BUCKETS_MS.length] = 1;
    expect(histogramPercentile(counts, 99, 90_000)).toBe(90_000);
  });

  it('is exact for raw values and an estimate, in the right bucket, once aggregates are mixed in', () => {
    const exact = new LatencySummary();
    for (const ms of [4, 1, 3, 2]) exact.add(ms);
    expect(exact.percentiles()).toEqual({ p50: 2, p95: 4, p99: 4 });
    expect(exact.approximate).toBe(false);

    const mixed = new LatencySummary();
    const rolled = emptyBuckets();
    rolled[bucketIndex(40)] = 98; // (25, 50]
    mixed.addBuckets(rolled, 40);
    mixed.add(800);
    mixed.add(900); // (500, 1000]
    const { p50, p99 } = mixed.percentiles();
    expect(mixed.approximate).toBe(true);
    expect(p50).toBeGreaterThan(25);
    expect(p50).toBeLessThanOrEqual(50);
    expect(p99).toBeGreaterThan(500);
    expect(p99).toBeLessThanOrEqual(1000);
  });
});
