// Closed-loop load: each caller runs calls back to back; bounded by count and by time.
import { CpuMeter } from './proc.mjs';

/**
 * Runs `callers` (async functions doing one call each) concurrently, warms up
 * for `warmupMs`, then measures until `measureMs` passed or `maxCalls`
 * completed. CPU of the process trees under `cpuRoots` is read over the
 * measured window. Latencies are in microseconds.
 */
export async function closedLoop(
  callers,
  { warmupMs = 300, measureMs = 2000, maxCalls = Infinity, cpuRoots = [], stopWhen },
) {
  const latencies = [];
  let errors = 0;
  let lastError;
  let measuring = false;
  let done = false;
  let meter;
  let windowStart = 0n;
  let windowEnd = 0n;
  let cpuSeconds = 0;

  const startWindow = () => {
    if (measuring || done) return;
    measuring = true;
    meter = new CpuMeter(cpuRoots);
    windowStart = process.hrtime.bigint();
  };
  const endWindow = () => {
    if (done) return;
    if (!measuring) startWindow();
    done = true;
    windowEnd = process.hrtime.bigint();
    cpuSeconds = meter ? meter.seconds() : 0;
  };

  const warmTimer = setTimeout(startWindow, warmupMs);
  const endTimer = setTimeout(endWindow, warmupMs + measureMs);
  const sampler = setInterval(() => meter?.sample(), 500);
  // An outside signal (the quiet tenant finished) may end the run early.
  void stopWhen?.then(endWindow);

  const loop = async (call) => {
    while (!done) {
      const start = process.hrtime.bigint();
      try {
        await call();
      } catch (error) {
        errors += 1;
        lastError = error;
        if (errors > 1000) endWindow();
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      if (measuring && !done) {
        latencies.push(Number(process.hrtime.bigint() - start) / 1000);
        if (latencies.length >= maxCalls) endWindow();
      }
    }
  };
  // A call that never returns must not hang the benchmark: give up 15 s after the window.
  let stuck = false;
  let giveUp;
  await Promise.race([
    Promise.all(callers.map(loop)),
    new Promise((resolve) => {
      giveUp = setTimeout(
        () => {
          stuck = true;
          endWindow();
          resolve();
        },
        warmupMs + measureMs + 15_000,
      );
    }),
  ]);
  clearTimeout(giveUp);
  clearTimeout(warmTimer);
  clearTimeout(endTimer);
  clearInterval(sampler);
  const seconds = windowEnd > windowStart ? Number(windowEnd - windowStart) / 1e9 : 0;
  return {
    latencies,
    calls: latencies.length,
    seconds,
    callsPerSec: seconds > 0 ? latencies.length / seconds : undefined,
    cpuSeconds,
    errors: errors + (stuck ? 1 : 0),
    lastError: stuck ? 'calls still pending 15 s after the window' : lastErrorText(lastError),
  };
}

function lastErrorText(lastError) {
  return lastError ? String(lastError.message ?? lastError).slice(0, 300) : undefined;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function withConcurrency(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
