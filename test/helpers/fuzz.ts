/**
 * Settings of the property-based tests: a fixed seed and a bounded number of
 * runs in `npm test`; `npm run fuzz` (scripts/fuzz.mjs) raises the runs and
 * picks a seed through these variables. A failure prints its seed and path,
 * which replay it exactly.
 */
export interface FuzzSettings {
  seed: number;
  numRuns: number;
  /** A property stops (without failing) past this, so `npm test` stays quick. */
  interruptAfterTimeLimit: number;
  markInterruptAsFailure: false;
}

export const DEFAULT_FUZZ_SEED = 20_261_128;

export function fuzzSettings(defaultRuns: number, defaultTimeLimitMs = 10_000): FuzzSettings {
  const runs = Number(process.env.MCP_TENANTS_FUZZ_RUNS);
  const seed = Number(process.env.MCP_TENANTS_FUZZ_SEED);
  const long = Number.isInteger(runs) && runs > 0;
  return {
    seed: Number.isInteger(seed) ? seed : DEFAULT_FUZZ_SEED,
    numRuns: long ? runs : defaultRuns,
    interruptAfterTimeLimit: long ? 24 * 3_600_000 : defaultTimeLimitMs,
    markInterruptAsFailure: false,
  };
}

/** The vitest timeout of a property test: its own limit plus room for setup. */
export function fuzzTimeout(settings: FuzzSettings): number {
  return Math.min(settings.interruptAfterTimeLimit + 20_000, 24 * 3_600_000);
}
