// npm run bench — starts every target on 127.0.0.1, alternates them round by round,
// prints one table (stdout), then the cluster section's (bench/cluster.mjs), and writes
// bench/results/<date>.json (the cluster's figures under `cluster`). Progress on stderr.
//   --quick          1 round, short phases (smoke run)
//   --rounds N       rounds (default 3)
//   --only a,b       targets: direct, floor, mt-http, mt-lean, mt-stdio, supergateway, mcp-proxy;
//                    and the section `cluster` (1 node, --workers 2, PostgreSQL nodes)
//                    and the section `tracing` (OpenTelemetry traces off and on, bench/tracing.mjs)
//   --profile        profile the mcp-tenants HTTP 64-session phase (--cpu-prof) instead
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureCluster, stopClusterStore } from './cluster.mjs';
import { benchVersion, missingBenchDeps } from './ensure-deps.mjs';
import { measureTarget } from './phases.mjs';
import { descendants } from './proc.mjs';
import { profileRelay } from './profile.mjs';
import {
  COLUMNS,
  goals,
  renderClusterTable,
  renderTable,
  summarize,
  summarizeCluster,
  writeResults,
} from './report.mjs';
import { startupBreakdown } from './startup.mjs';
import { killSurvivors, REPO, removeWorkspaces, TARGETS } from './targets.mjs';
import { measureTracing, renderTracingTable, TRACING } from './tracing.mjs';

const RESULTS = join(REPO, 'bench', 'results');
/** The name of the cluster section in --only. */
const CLUSTER = 'cluster';

const CONFIGS = {
  full: {
    rounds: 3,
    warm: { ms: 1500 },
    latency: { warmupMs: 200, measureMs: 2000, maxCalls: 2000 },
    throughput: { warmupMs: 300, measureMs: 2000, maxCalls: 100_000 },
    setup: { count: 30, cappedCount: 5, ms: 4000 },
    sessions: { ms: 30_000 },
    noisy: { warmupMs: 100, measureMs: 2000, maxCalls: 1500 },
    cold: { tenants: 5, spawns: 3 },
    startupSamples: 3,
    // Four scenarios a round, each started fresh (PostgreSQL: a fresh database) and
    // measured right after its warm-up: a fresh supervisor's calls cost far more CPU
    // until the JIT catches up, so the warm-up must not be cut shorter.
    cluster: {
      rounds: 3,
      warm: { ms: 1500 },
      throughput: { warmupMs: 300, measureMs: 2000, maxCalls: 100_000 },
      latency: { warmupMs: 200, measureMs: 1500, maxCalls: 1500 },
      budgetMs: 120_000,
    },
  },
  quick: {
    rounds: 1,
    warm: { ms: 500 },
    latency: { warmupMs: 100, measureMs: 500, maxCalls: 500 },
    throughput: { warmupMs: 150, measureMs: 600, maxCalls: 30_000 },
    setup: { count: 10, cappedCount: 3, ms: 2000 },
    sessions: { ms: 20_000 },
    noisy: { warmupMs: 50, measureMs: 600, maxCalls: 400 },
    cold: { tenants: 2, spawns: 1 },
    startupSamples: 1,
    cluster: {
      rounds: 1,
      warm: { ms: 800 },
      throughput: { warmupMs: 150, measureMs: 600, maxCalls: 30_000 },
      latency: { warmupMs: 100, measureMs: 500, maxCalls: 500 },
      budgetMs: 60_000,
    },
  },
};

const log = (line) => process.stderr.write(`bench: ${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      seconds: { type: 'string' },
    },
  });
  const config = structuredClone(values.quick ? CONFIGS.quick : CONFIGS.full);
  if (values.rounds) {
    config.rounds = Math.max(1, Number.parseInt(values.rounds, 10));
    config.cluster.rounds = config.rounds;
  }
  const selected = values.only
    ? values.only.split(',').map((s) => s.trim())
    : [...COLUMNS, CLUSTER, TRACING];
  for (const name of selected) {
    if (!TARGETS[name] && name !== CLUSTER && name !== TRACING) {
      throw new Error(
        `unknown target "${name}"; known: ${[...COLUMNS, CLUSTER, TRACING].join(', ')}`,
      );
    }
  }
  return {
    config,
    only: selected.filter((name) => name !== CLUSTER && name !== TRACING),
    cluster: selected.includes(CLUSTER),
    tracing: selected.includes(TRACING),
    quick: values.quick,
    profile: values.profile,
    seconds: values.seconds,
  };
}

/** On Ctrl-C (or a crash), every process this run started goes, by pid. */
function cleanupOnExit() {
  const killAll = () => {
    // The PostgreSQL server is no descendant of this process (pg_ctl detaches it).
    stopClusterStore();
    for (const pid of descendants(process.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    removeWorkspaces();
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      log(`${signal}: stopping every process of this run`);
      killAll();
      process.exit(130);
    });
  }
  process.on('exit', killAll);
}

function machine() {
  const version = (pkg) =>
    JSON.parse(readFileSync(join(REPO, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
    versions: {
      '@modelcontextprotocol/sdk': version('@modelcontextprotocol/sdk'),
      supergateway: benchVersion('supergateway'),
      'mcp-proxy': benchVersion('mcp-proxy'),
    },
  };
}

/**
 * Targets alternate: each round starts one group further along, and a group runs
 * backwards every other round. direct, floor and mcp-tenants HTTP form one group, so
 * the goal ratios always compare neighbours in time (the floor sits between the others);
 * the variant without request stages sits right next to mcp-tenants HTTP.
 */
const GROUPS = [
  ['direct', 'floor', 'mt-http', 'mt-lean'],
  ['mt-stdio'],
  ['supergateway'],
  ['mcp-proxy'],
];

function roundOrder(only, round) {
  const groups = GROUPS.map((group) => group.filter((name) => only.includes(name))).filter(
    (group) => group.length > 0,
  );
  const rotated = groups.map((_, i) => groups[(i + round) % groups.length]);
  return rotated.flatMap((group) => (round % 2 === 1 ? [...group].reverse() : group));
}

async function benchmark({ config, only, cluster, tracing, quick }) {
  const started = Date.now();
  const before = machine();
  const rounds = [];
  const notes = new Set();
  for (let r = 0; r < (only.length > 0 ? config.rounds : 0); r++) {
    const order = roundOrder(only, r);
    log(`round ${r + 1}/${config.rounds}: ${order.join(' → ')}`);
    const results = {};
    for (const name of order) {
      const t0 = Date.now();
      try {
        results[name] = await measureTarget(name, TARGETS[name], config, log);
      } catch (error) {
        log(`${name}: FAILED ${error.stack ?? error}`);
        notes.add(`${name} failed in round ${r + 1}: ${String(error.message).split('\n')[0]}`);
      }
      for (const note of results[name]?.notes ?? []) notes.add(`${name}: ${note}`);
      log(`${name}: round ${r + 1} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    rounds.push({ order, results });
  }
  let startup;
  if (only.length > 0) {
    log('built-in child start-up breakdown');
    startup = await startupBreakdown(config.startupSamples);
  }

  // The cluster section: its own rounds, its ratios against its own baseline.
  let clusterResults;
  if (cluster) {
    const measured = await measureCluster(config.cluster, log);
    clusterResults = { ...measured, summary: summarizeCluster(measured) };
  }
  const tracingResults = tracing ? await measureTracing(config, log) : undefined;

  for (const name of only) notes.add(`${name}: ${TARGETS[name].note}`);
  if (only.includes('supergateway'))
    notes.add(
      'supergateway: 64-session phases and the 1 000-session RSS phase skipped (a child per session)',
    );
  notes.add(
    `load average (1/5/15 min) ${before.loadAverage.join('/')} at start, ${machine().loadAverage.join('/')} at end, on ${before.cpus} CPUs`,
  );
  const summary = summarize(rounds);
  const goalRows = goals(summary);
  const tables = [];
  if (only.length > 0) {
    tables.push(
      renderTable(summary, goalRows, { startup, notes: [...notes], rounds: rounds.length }),
    );
  }
  if (clusterResults) {
    tables.push(renderClusterTable(clusterResults, clusterResults.summary));
    if (only.length === 0) tables.push([...notes].map((note) => `note: ${note}`).join('\n'));
  }
  if (tracingResults) tables.push(renderTracingTable(tracingResults));
  const leftovers = descendants(process.pid);
  if (leftovers.length > 0) {
    log(
      `${leftovers.length} processes still running at the end: ${leftovers.join(' ')}; killing them`,
    );
    await killSurvivors(leftovers, 0);
  }
  const path = writeResults(
    RESULTS,
    {
      date: new Date().toISOString(),
      quick,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      machine: { ...before, loadAverageAtEnd: machine().loadAverage },
      config,
      ...(only.length > 0
        ? {
            summary,
            goals: goalRows,
            startup,
            notes: [...notes],
            rounds: rounds.map(({ order, results }) => ({ order, results })),
          }
        : { notes: [...notes] }),
      ...(clusterResults ? { cluster: clusterResults } : {}),
      ...(tracingResults ? { tracing: tracingResults } : {}),
    },
    // A run of the cluster section alone does not overwrite the day's full results.
    `${only.length === 0 ? `${cluster ? '-cluster' : ''}${tracing ? '-tracing' : ''}` : ''}${quick ? '-quick' : ''}`,
  );
  process.stdout.write(`${tables.join('\n\n')}\n`);
  log(`results written to ${path} (${Math.round((Date.now() - started) / 1000)} s)`);
}

async function profile(seconds) {
  const settings = { seconds: Number(seconds ?? 8), top: 15 };
  const relay = await profileRelay('mt-http', settings, log);
  const floor = await profileRelay('floor', settings, log);
  const busy = (p) => p.totalMs - (p.areas.find((a) => a.name === '(idle)')?.ms ?? 0);
  const perCall = (p, ms) => `${((ms * 1000) / p.calls).toFixed(1)} µs/call`;
  const lines = [
    'relay under --cpu-prof, 64 sessions on one tenant (the relay process only, not its child)',
    `mcp-tenants: ${Math.round(relay.callsPerSec)} calls/s, busy ${perCall(relay, busy(relay))} (${relay.file})`,
    `floor:       ${Math.round(floor.callsPerSec)} calls/s, busy ${perCall(floor, busy(floor))} (${floor.file})`,
    '',
    'mcp-tenants, top self time (% of profile, µs per call):',
    ...relay.top.map(
      (t, i) =>
        `${String(i + 1).padStart(3)}. ${t.pct.toFixed(1).padStart(5)}%  ${perCall(relay, t.ms).padStart(14)}  ${t.name}`,
    ),
    '',
    'self time by area, µs per call:   mcp-tenants        floor',
    ...relay.areas.map((a) => {
      const other = floor.areas.find((b) => b.name === a.name);
      return `  ${a.name.padEnd(30)} ${perCall(relay, a.ms).padStart(14)} ${other ? perCall(floor, other.ms).padStart(14) : '             –'}`;
    }),
  ];
  const path = writeResults(
    RESULTS,
    { date: new Date().toISOString(), machine: machine(), relay, floor },
    '-profile',
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  log(`profile summary written to ${path}`);
}

cleanupOnExit();
const opts = options();
// The anchor targets are named after their packages in bench/package.json.
const missing = missingBenchDeps().filter((spec) =>
  opts.only.some((name) => spec.startsWith(`${name}@`)),
);
if (missing.length > 0) {
  log(
    `${missing.join(', ')} not in bench/node_modules: npm run bench installs bench/package.json (or npm --prefix bench ci)`,
  );
  process.exit(1);
}
if (opts.profile) await profile(opts.seconds);
else await benchmark(opts);
