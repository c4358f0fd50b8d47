import { addToBuckets, emptyBuckets, histogramPercentile } from './latency.js';
import { isErrorOutcome, type Outcome } from './outcome.js';

/** Minutes the status page looks back. */
const WINDOW_MINUTES = 5;

interface Minute {
  minute: number;
  requests: number;
  errors: number;
  quota: number;
  buckets: number[];
  maxMs: number;
}

export interface RecentFigures {
  requests_per_min: number;
  /** Share of requests that failed, 0..1. */
  error_rate: number;
  p95_ms: number | null;
  quota_refusals: number;
}

/** Per tenant, the last few minutes of traffic, for the live status page. */
export class RecentTraffic {
  private readonly tenants = new Map<string, Minute[]>();

  constructor(private readonly now: () => number) {}

  add(tenant: string, outcome: Outcome, latencyMs: number): void {
    const minute = Math.floor(this.now() / 60_000);
    let minutes = this.tenants.get(tenant);
    if (!minutes) {
      minutes = [];
      this.tenants.set(tenant, minutes);
    }
    let current = minutes.at(-1);
    if (current?.minute !== minute) {
      current = { minute, requests: 0, errors: 0, quota: 0, buckets: emptyBuckets(), maxMs: 0 };
      minutes.push(current);
      while (minutes.length > WINDOW_MINUTES) minutes.shift();
    }
    current.requests += 1;
    if (isErrorOutcome(outcome)) current.errors += 1;
    if (outcome === 'quota') current.quota += 1;
    addToBuckets(current.buckets, latencyMs);
    current.maxMs = Math.max(current.maxMs, latencyMs);
  }

  figures(tenant: string): RecentFigures | undefined {
    const oldest = Math.floor(this.now() / 60_000) - WINDOW_MINUTES + 1;
    const minutes = (this.tenants.get(tenant) ?? []).filter((m) => m.minute >= oldest);
    if (minutes.length === 0) return undefined;
    const buckets = emptyBuckets();
    let requests = 0;
    let errors = 0;
    let quota = 0;
    let maxMs = 0;
    for (const m of minutes) {
      requests += m.requests;
      errors += m.errors;
      quota += m.quota;
      maxMs = Math.max(maxMs, m.maxMs);
      m.buckets.forEach((count, i) => {
        buckets[i] = (buckets[i] as number) + count;
      });
    }
    const p95 = histogramPercentile(buckets, 95, maxMs);
    return {
      requests_per_min: Math.round((requests / WINDOW_MINUTES) * 10) / 10,
      error_rate: requests === 0 ? 0 : Math.round((errors / requests) * 1000) / 1000,
      p95_ms: p95 === null ? null : Math.round(p95 * 10) / 10,
      quota_refusals: quota,
    };
  }
}
