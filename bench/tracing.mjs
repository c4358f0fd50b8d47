// The tracing section of `npm run bench` (`--only tracing`): what OpenTelemetry traces
// cost. The same `serve` (one tenant on the echo child) started without any OTEL
// variable, then with OTEL_EXPORTER_OTLP_ENDPOINT naming a throwaway OTLP/HTTP receiver
// in this process (every span sampled and exported: the most it can cost), then the
// same with the always_off sampler (spans made and propagated, none exported),
// alternated round by round. Figures: p50 at concurrency 1, calls/s and p50 of 16
// sessions, CPU per call of the supervisor and its child.
import { createServer } from 'node:http';
import { closedLoop, withConcurrency } from './drive.mjs';
import { HttpEndpoint, HttpSession } from './load-http.mjs';
import { median, percentile } from './stats.mjs';
import { CLI, mcpTenantsWorkspace, startService, withoutManifestEnv } from './targets.mjs';

/** The name of the section in --only. */
export const TRACING = 'tracing';

const NODE = process.execPath;
const SESSIONS = 16;

const VARIANTS = {
  off: { label: 'tracing off', env: () => ({}) },
  on: {
    label: 'on, every span exported',
    env: (endpoint) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }),
  },
  unsampled: {
    label: 'on, sampler always_off',
    env: (endpoint) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_TRACES_SAMPLER: 'always_off',
    }),
  },
};
const NAMES = Object.keys(VARIANTS);

/** An OTLP/HTTP receiver that reads and drops what it gets, counting batches and bytes. */
async function startReceiver() {
  const counts = { batches: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk) => {
      counts.bytes += chunk.length;
    });
    request.on('end', () => {
      counts.batches += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    counts: () => ({ ...counts }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** The bench's environment without OpenTelemetry variables of its own. */
function withoutOtel() {
  const env = withoutManifestEnv();
  for (const key of Object.keys(env)) if (key.startsWith('OTEL_')) delete env[key];
  return env;
}

async function measureVariant(name, receiver, config, log) {
  const workspace = mcpTenantsWorkspace({ loadOnly: true });
  const before = receiver.counts();
  const service = await startService(
    NODE,
    [CLI, 'serve', '-m', workspace.manifestPath, '--port', '0', '--log-level', 'warn'],
    {
      urlPattern: /http:\/\/127\.0\.0\.1:\d+\/mcp/,
      env: { ...withoutOtel(), ...VARIANTS[name].env(receiver.url) },
    },
  );
  const endpoint = new HttpEndpoint(service.url, {
    token: await workspace.token('t0'),
    maxSockets: 64,
  });
  const out = { variant: name };
  try {
    const sessions = await withConcurrency(Array.from({ length: SESSIONS }), 16, () =>
      new HttpSession(endpoint).open(),
    );
    const callers = sessions.map((session) => () => session.echo());
    // A fresh process runs cold code until the JIT catches up.
    await closedLoop(callers, { warmupMs: 0, measureMs: config.warm.ms });
    const single = await closedLoop([callers[0]], config.latency);
    out.p50c1 = percentile(single.latencies, 0.5);
    const load = await closedLoop(callers, { ...config.throughput, cpuRoots: [service.pid] });
    out.callsPerSec = load.callsPerSec;
    out.p50 = percentile(load.latencies, 0.5);
    out.cpuUsPerCall = load.calls > 0 ? (load.cpuSeconds * 1e6) / load.calls : undefined;
    out.errors = single.errors + load.errors;
    await Promise.all(sessions.map((session) => session.close()));
  } finally {
    endpoint.close();
    await service.stop();
    workspace.cleanup();
  }
  // After the stop, so the shutdown's last export counts too.
  const after = receiver.counts();
  out.exportedBatches = after.batches - before.batches;
  out.exportedMb = (after.bytes - before.bytes) / 2 ** 20;
  log(
    `${TRACING} ${name}: c=1 p50 ${fmt(out.p50c1)} µs, ${SESSIONS} sessions ${fmt(out.callsPerSec)} calls/s p50 ${fmt(out.p50)} µs, CPU ${fmt(out.cpuUsPerCall)} µs/call, exported ${out.exportedMb.toFixed(1)} MB`,
  );
  return out;
}

/** Runs the section: `config.rounds` rounds of every variant, the order alternating. */
export async function measureTracing(config, log) {
  const receiver = await startReceiver();
  const rounds = [];
  try {
    for (let round = 0; round < config.rounds; round++) {
      const order = round % 2 === 0 ? NAMES : [...NAMES].reverse();
      log(`${TRACING} round ${round + 1}/${config.rounds}: ${order.join(' → ')}`);
      const results = {};
      for (const name of order) results[name] = await measureVariant(name, receiver, config, log);
      rounds.push(results);
    }
  } finally {
    await receiver.close();
  }
  const summary = {};
  for (const name of NAMES) {
    const of = (key) => median(rounds.map((round) => round[name]?.[key]));
    summary[name] = {
      p50c1: of('p50c1'),
      callsPerSec: of('callsPerSec'),
      p50: of('p50'),
      cpuUsPerCall: of('cpuUsPerCall'),
      exportedMb: of('exportedMb'),
      errors: rounds.reduce((sum, round) => sum + (round[name]?.errors ?? 0), 0),
    };
  }
  return { sessions: SESSIONS, rounds, summary };
}

function fmt(value, digits = 0) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function change(on, off) {
  if (typeof on !== 'number' || typeof off !== 'number' || off === 0) return '–';
  const pct = ((on - off) / off) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

/** The section's table: medians over the rounds, and each variant against tracing off. */
export function renderTracingTable(results) {
  const { summary, sessions, rounds } = results;
  const off = summary.off;
  const header = [
    'variant'.padEnd(26),
    'c=1 p50'.padStart(9),
    `${sessions} sess calls/s`.padStart(16),
    'p50'.padStart(8),
    'CPU/call'.padStart(10),
    'exported'.padStart(10),
    'calls/s vs off'.padStart(15),
    'CPU vs off'.padStart(11),
  ].join(' ');
  const lines = NAMES.map((name) => {
    const row = summary[name];
    return [
      VARIANTS[name].label.padEnd(26),
      `${fmt(row.p50c1)} µs`.padStart(9),
      fmt(row.callsPerSec).padStart(16),
      `${fmt(row.p50)} µs`.padStart(8),
      `${fmt(row.cpuUsPerCall)} µs`.padStart(10),
      (name === 'off' ? '–' : `${fmt(row.exportedMb, 1)} MB`).padStart(10),
      (name === 'off' ? '' : change(row.callsPerSec, off.callsPerSec)).padStart(15),
      (name === 'off' ? '' : change(row.cpuUsPerCall, off.cpuUsPerCall)).padStart(11),
    ].join(' ');
  });
  const errors = NAMES.reduce((sum, name) => sum + summary[name].errors, 0);
  return [
    `OpenTelemetry traces: serve, 1 tenant on the echo child, tools/call; median of ${rounds.length} round(s)`,
    header,
    ...lines,
    ...(errors > 0 ? [`note: ${errors} calls failed`] : []),
  ].join('\n');
}
