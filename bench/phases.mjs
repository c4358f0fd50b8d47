// One round of one target: every phase, in a fixed order, each bounded by count and time.
import { Worker } from 'node:worker_threads';
import { closedLoop, withConcurrency } from './drive.mjs';
import { HttpEndpoint, initializeMessage } from './load-http.mjs';
import { peakRssSampler, rssOf } from './proc.mjs';
import { msSince, percentile, summarize } from './stats.mjs';
import { COLD_BUILTIN, COLD_ECHO, NOISY_TENANTS } from './targets.mjs';

const LOADS = [
  { key: 's16t1', sessions: 16, tenants: 1 },
  { key: 's64t1', sessions: 64, tenants: 1 },
  { key: 's16t4', sessions: 16, tenants: 4 },
  { key: 's64t4', sessions: 64, tenants: 4 },
];

/** Runs every phase against a freshly started target; returns the round's figures. */
export async function measureTarget(name, definition, config, log) {
  const out = { target: name, notes: [] };
  const handle = await definition.start();
  const sampler = peakRssSampler(handle.roots(), 200);
  const sessionsToClose = [];
  try {
    if (handle.mainPid) out.rssIdle = rssOf(handle.mainPid);
    const cap = handle.sessionCap ?? Infinity;

    // Sessions on tenant 0, reused by the 1-tenant phases.
    const wanted = Math.min(64, cap);
    const sessions = await withConcurrency(Array.from({ length: wanted }), 16, () =>
      handle.openSession(0),
    );
    sessionsToClose.push(...sessions);

    // Warm-up, not measured: a fresh process runs cold code until the JIT catches up.
    await warmUp(sessions, config.warm.ms);

    // Latency at concurrency 1.
    const latency = await closedLoop([() => sessions[0].echo()], {
      ...config.latency,
      cpuRoots: handle.roots(),
    });
    out.latency = { ...summarize(latency.latencies), errors: latency.errors };
    log(`${name}: c=1 p50 ${fmt(out.latency.p50)} µs p99 ${fmt(out.latency.p99)} µs`);

    // Throughput on 1 tenant.
    out.load = {};
    for (const load of LOADS.filter((l) => l.tenants === 1)) {
      if (load.sessions > cap) {
        out.load[load.key] = { skipped: `capped at ${cap} sessions` };
        continue;
      }
      out.load[load.key] = await throughput(handle, sessions.slice(0, load.sessions), config);
      log(`${name}: ${load.key} ${describe(out.load[load.key])}`);
    }
    // A variant priced on the request path alone stops here.
    if (definition.pathOnly) return out;

    // Session setup: initialize + initialized + tools/list, one at a time.
    if (handle.kind === 'http') {
      const times = [];
      const count = cap < Infinity ? config.setup.cappedCount : config.setup.count;
      const start = process.hrtime.bigint();
      while (times.length < count && msSince(start) < config.setup.ms) {
        const t0 = process.hrtime.bigint();
        const session = await handle.openSession(0);
        await session.listTools();
        times.push(msSince(t0));
        await session.close();
      }
      out.setup = {
        count: times.length,
        p50: percentile(times, 0.5),
        p95: percentile(times, 0.95),
      };
      log(`${name}: setup p50 ${out.setup.p50.toFixed(2)} ms (${times.length})`);
    }

    // Open sessions and the relay's RSS (not for a child per session).
    if (handle.kind === 'http' && cap === Infinity) {
      out.sessions = await openSessionsRss(handle, sessionsToClose, config);
      log(
        `${name}: RSS ${mb(out.sessions.rss100)} MB @100, ${mb(out.sessions.rss1000)} MB @1000 → ${fmt(out.sessions.bytesPerSession)} B/session`,
      );
    }
    out.peak1Tenant = sampler.peek();

    // Throughput spread over 4 tenants, when the target has tenants.
    if (handle.maxTenants >= 4) {
      const spread = await withConcurrency(Array.from({ length: 64 }), 16, (_, i) =>
        handle.openSession(i % 4),
      );
      sessionsToClose.push(...spread);
      await warmUp(spread, config.warm.ms / 2);
      for (const load of LOADS.filter((l) => l.tenants === 4)) {
        out.load[load.key] = await throughput(handle, spread.slice(0, load.sessions), config);
        log(`${name}: ${load.key} ${describe(out.load[load.key])}`);
      }
    }

    out.peakAll = sampler.peek(); // before the noisy and cold-start phases add tenants

    if (name === 'mt-http') {
      out.noisy = await noisyNeighbour(handle, config, log);
      out.coldStart = await coldStartHttp(handle, config);
      log(
        `${name}: cold start built-in p50 ${fmt(out.coldStart.builtin.p50)} ms, echo p50 ${fmt(out.coldStart.echo.p50)} ms`,
      );
    }
  } finally {
    sampler.stop();
    out.peakAll ??= sampler.peek();
    await Promise.all(sessionsToClose.map((s) => s.close?.().catch(() => {})));
    const survivors = await handle.stop();
    if (survivors > 0) out.notes.push(`${survivors} processes had to be SIGKILLed at stop`);
  }

  if (definition.coldStart) {
    const times = [];
    for (let i = 0; i < config.cold.spawns; i++) times.push(await definition.coldStart());
    out.coldStart = { process: { count: times.length, p50: percentile(times, 0.5) } };
    log(`${name}: cold start (spawn → initialize) p50 ${fmt(out.coldStart.process.p50)} ms`);
  }
  return out;
}

function warmUp(sessions, ms) {
  return closedLoop(
    sessions.map((session) => () => session.echo()),
    { warmupMs: 0, measureMs: ms },
  );
}

async function throughput(handle, sessions, config) {
  const result = await closedLoop(
    sessions.map((session) => () => session.echo()),
    { ...config.throughput, cpuRoots: handle.roots() },
  );
  const { p50, p99 } = summarize(result.latencies);
  return {
    calls: result.calls,
    seconds: result.seconds,
    callsPerSec: result.callsPerSec,
    p50,
    p99,
    cpuUsPerCall: result.calls > 0 ? (result.cpuSeconds * 1e6) / result.calls : undefined,
    errors: result.errors,
    ...(result.lastError ? { lastError: result.lastError } : {}),
  };
}

/** Opens sessions up to 100 then 1 000 (initialize only) and reads the relay's RSS each time. */
async function openSessionsRss(handle, keep, config) {
  const openUpTo = async (target) => {
    const start = process.hrtime.bigint();
    const more = Math.max(0, target - keep.length);
    const opened = await withConcurrency(Array.from({ length: more }), 16, async () => {
      if (msSince(start) > config.sessions.ms) return undefined;
      return handle.openSession(0);
    });
    for (const session of opened) if (session) keep.push(session);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return rssOf(handle.mainPid);
  };
  const rss100 = await openUpTo(100);
  const at100 = keep.length;
  const rss1000 = await openUpTo(1000);
  const opened = keep.length;
  return {
    open: opened,
    rss100,
    rss1000,
    bytesPerSession: opened > at100 ? (rss1000 - rss100) / (opened - at100) : undefined,
  };
}

/** p99 of a quiet tenant alone, then while another tenant is saturated by 32 sessions. */
async function noisyNeighbour(handle, config, log) {
  const quiet = await handle.openTenantSession(NOISY_TENANTS[1]);
  const run = (stopWhen) => closedLoop([() => quiet.session.echo()], { ...config.noisy, stopWhen });
  try {
    const alone = await run();
    const worker = new Worker(new URL('./noise-worker.mjs', import.meta.url), {
      workerData: {
        url: handle.url,
        token: await handle.workspace.token(NOISY_TENANTS[0]),
        sessions: 32,
      },
    });
    const messages = [];
    const next = () => new Promise((resolve) => worker.once('message', resolve));
    messages.push(await next()); // ready
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the flood build up
    const loaded = await run();
    const finished = next();
    worker.postMessage('stop');
    const noise = await finished;
    await worker.terminate();
    const result = {
      aloneP99: percentile(alone.latencies, 0.99),
      loadedP99: percentile(loaded.latencies, 0.99),
      aloneP50: percentile(alone.latencies, 0.5),
      loadedP50: percentile(loaded.latencies, 0.5),
      quietCalls: loaded.calls,
      noisyCallsPerSec: noise.callsPerSec,
    };
    result.ratio = result.loadedP99 / result.aloneP99;
    log(
      `mt-http: noisy neighbour quiet p99 ${fmt(result.aloneP99)} → ${fmt(result.loadedP99)} µs (×${result.ratio.toFixed(2)}), noisy ${fmt(noise.callsPerSec)} calls/s`,
    );
    return result;
  } finally {
    await quiet.session.close();
    quiet.endpoint.close();
  }
}

/** First initialize of a fresh tenant → its answer (the child starts on it). */
async function coldStartHttp(handle, config) {
  const measure = async (tenants) => {
    const times = [];
    for (const tenant of tenants.slice(0, config.cold.tenants)) {
      const endpoint = new HttpEndpoint(handle.url, {
        token: await handle.workspace.token(tenant),
        maxSockets: 1,
      });
      // Connect first, so the figure is the tenant's start, not a TCP handshake.
      await endpoint.request('GET', undefined, {}).catch(() => {});
      const t0 = process.hrtime.bigint();
      await endpoint.rpc(initializeMessage());
      times.push(msSince(t0));
      endpoint.close();
    }
    return { count: times.length, p50: percentile(times, 0.5), all: times.map(round1) };
  };
  return { builtin: await measure(COLD_BUILTIN), echo: await measure(COLD_ECHO) };
}

function describe(load) {
  if (load.skipped) return `skipped (${load.skipped})`;
  return `${fmt(load.callsPerSec)} calls/s p99 ${fmt(load.p99)} µs CPU ${fmt(load.cpuUsPerCall)} µs/call${load.errors ? ` errors ${load.errors} (${load.lastError})` : ''}`;
}

const round1 = (value) => Math.round(value * 10) / 10;
const fmt = (value) => (value === undefined ? '–' : String(Math.round(value)));
const mb = (bytes) => (bytes / 1048576).toFixed(1);
