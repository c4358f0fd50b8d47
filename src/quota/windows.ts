/**
 * The windows usage is counted in. Counts are kept per bucket (a second, a
 * UTC day, a UTC month), identified by the bucket's start in epoch seconds.
 *
 * `minute` is a sliding window in whole seconds: a request counts while the
 * second it was made in is one of the last 61 (its own included), that is
 * for 60 to 61 seconds — never less than a full minute, so no 60-second
 * span ever holds more than the limit.
 */
export interface CounterWindow {
  readonly name: 'minute' | 'day' | 'month';
  /** The bucket `nowMs` falls in. */
  bucketOf(nowMs: number): number;
  /** The oldest bucket that still counts at `nowMs`. */
  firstCounted(nowMs: number): number;
  /** When (epoch ms) a bucket stops counting. */
  expiresAt(bucket: number): number;
}

const SECOND_MS = 1000;
const DAY_S = 86_400;
export const MINUTE_WINDOW_SECONDS = 60;

export const MINUTE: CounterWindow = {
  name: 'minute',
  bucketOf: (nowMs) => Math.floor(nowMs / SECOND_MS),
  firstCounted: (nowMs) => Math.floor(nowMs / SECOND_MS) - MINUTE_WINDOW_SECONDS,
  expiresAt: (bucket) => (bucket + MINUTE_WINDOW_SECONDS + 1) * SECOND_MS,
};

export const DAY: CounterWindow = {
  name: 'day',
  bucketOf: (nowMs) => Math.floor(nowMs / SECOND_MS / DAY_S) * DAY_S,
  firstCounted: (nowMs) => DAY.bucketOf(nowMs),
  expiresAt: (bucket) => (bucket + DAY_S) * SECOND_MS,
};

export const MONTH: CounterWindow = {
  name: 'month',
  bucketOf: (nowMs) => {
    const date = new Date(nowMs);
    return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / SECOND_MS;
  },
  firstCounted: (nowMs) => MONTH.bucketOf(nowMs),
  expiresAt: (bucket) => {
    const date = new Date(bucket * SECOND_MS);
    return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  },
};

/**
 * How long until one more request fits: the oldest buckets must expire
 * until the count is below the limit. `counts` are the buckets in the window.
 */
export function retryAfterMs(
  window: CounterWindow,
  counts: ReadonlyMap<number, number>,
  limit: number,
  nowMs: number,
): number {
  let total = 0;
  for (const count of counts.values()) total += count;
  const oldestFirst = [...counts.keys()].sort((a, b) => a - b);
  for (const bucket of oldestFirst) {
    total -= counts.get(bucket) ?? 0;
    if (total < limit) return Math.max(0, window.expiresAt(bucket) - nowMs);
  }
  return 0;
}
