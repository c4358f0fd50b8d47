// Medians over rounds, same-round ratios, the goals, one table and a JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './stats.mjs';

export const COLUMNS = [
  'direct',
  'floor',
  'mt-http',
  'mt-lean',
  'mt-stdio',
  'supergateway',
  'mcp-proxy',
];
const HEADINGS = {
  direct: 'direct',
  floor: 'floor',
  'mt-http': 'mt http',
  'mt-lean': 'mt lean',
  'mt-stdio': 'mt stdio',
  supergateway: 'supergw',
  'mcp-proxy': 'mcp-proxy',
};
const MB = 1024 * 1024;

/** Figure extractors: (round result of one target, same round's results) → number. */
const FIGURES = {
  p50: (r) => r.latency?.p50,
  p95: (r) => r.latency?.p95,
  p99: (r) => r.latency?.p99,
  addedP50: (r, round) => diff(r.latency?.p50, round.direct?.latency?.p50),
  ...Object.fromEntries(
    ['s16t1', 's64t1', 's16t4', 's64t4'].flatMap((key) => [
      [`${key}.callsPerSec`, (r) => r.load?.[key]?.callsPerSec],
      [`${key}.p99`, (r) => r.load?.[key]?.p99],
      [`${key}.cpuUsPerCall`, (r) => r.load?.[key]?.cpuUsPerCall],
      [`${key}.errors`, (r) => r.load?.[key]?.errors],
    ]),
  ),
  setupP50: (r) => r.setup?.p50,
  coldEcho: (r) => r.coldStart?.echo?.p50 ?? r.coldStart?.process?.p50,
  coldBuiltin: (r) => r.coldStart?.builtin?.p50,
  rssIdle: (r) => r.rssIdle,
  rss100: (r) => r.sessions?.rss100,
  rss1000: (r) => r.sessions?.rss1000,
  openSessions: (r) => r.sessions?.open,
  bytesPerSession: (r) => r.sessions?.bytesPerSession,
  peak1: (r) => r.peak1Tenant?.bytes,
  peak1Processes: (r) => r.peak1Tenant?.processes,
  peakAll: (r) => r.peakAll?.bytes,
  peakAllProcesses: (r) => r.peakAll?.processes,
  noisyAlone: (r) => r.noisy?.aloneP99,
  noisyLoaded: (r) => r.noisy?.loadedP99,
  noisyRatio: (r) => r.noisy?.ratio,
  // Same-round ratios against the floor.
  addedVsFloor: (r, round) =>
    div(
      diff(r.latency?.p50, round.direct?.latency?.p50),
      diff(round.floor?.latency?.p50, round.direct?.latency?.p50),
    ),
  callsVsFloor: (r, round) =>
    div(r.load?.s64t1?.callsPerSec, round.floor?.load?.s64t1?.callsPerSec),
  calls16VsFloor: (r, round) =>
    div(r.load?.s16t1?.callsPerSec, round.floor?.load?.s16t1?.callsPerSec),
  cpuVsFloor: (r, round) =>
    div(r.load?.s64t1?.cpuUsPerCall, round.floor?.load?.s64t1?.cpuUsPerCall),
  // The durable path: mcp-tenants with its request stages against the same round's lean variant.
  stagesP50Us: (r, round) => diff(r.latency?.p50, round['mt-lean']?.latency?.p50),
  stagesCpuUs: (r, round) =>
    diff(r.load?.s64t1?.cpuUsPerCall, round['mt-lean']?.load?.s64t1?.cpuUsPerCall),
  stagesCallsRatio: (r, round) =>
    div(r.load?.s64t1?.callsPerSec, round['mt-lean']?.load?.s64t1?.callsPerSec),
};

/** { target: { figure: median over rounds } } */
export function summarize(rounds) {
  const summary = {};
  for (const target of COLUMNS) {
    const perRound = rounds.map((round) => round.results).filter((results) => results[target]);
    if (perRound.length === 0) continue;
    summary[target] = {};
    for (const [name, extract] of Object.entries(FIGURES)) {
      const value = median(perRound.map((results) => extract(results[target], results)));
      if (value !== undefined) summary[target][name] = value;
    }
  }
  return summary;
}

/** The issue's goals, measured on mcp-tenants over HTTP. */
export function goals(summary) {
  const mt = summary['mt-http'] ?? {};
  // Its cold start: spawn `serve --stdio` → the answer to initialize.
  const stdio = summary['mt-stdio'] ?? {};
  const kb = mt.bytesPerSession === undefined ? undefined : mt.bytesPerSession / 1024;
  const row = (goal, limit, value, text, ok) => ({
    goal,
    limit,
    measured: value === undefined ? 'n/a' : text,
    status: value === undefined ? 'n/a' : ok ? 'met' : 'MISSED',
  });
  return [
    row(
      "added p50 at c=1 ≤ 1.2× floor's added p50",
      '≤ 1.20×',
      mt.addedVsFloor,
      `${f2(mt.addedVsFloor)}× (${f0(mt.addedP50)} µs vs ${f0(summary.floor?.addedP50)} µs)`,
      mt.addedVsFloor <= 1.2,
    ),
    row(
      'calls/s at 64 sessions, 1 tenant ≥ 1.0× floor',
      '≥ 1.00×',
      mt.callsVsFloor,
      `${f2(mt.callsVsFloor)}× (${f0(mt['s64t1.callsPerSec'])} vs ${f0(summary.floor?.['s64t1.callsPerSec'])})`,
      mt.callsVsFloor >= 1.0,
    ),
    row(
      'relay+child CPU/call at 64 ≤ 1.25× floor',
      '≤ 1.25×',
      mt.cpuVsFloor,
      `${f2(mt.cpuVsFloor)}× (${f0(mt['s64t1.cpuUsPerCall'])} vs ${f0(summary.floor?.['s64t1.cpuUsPerCall'])} µs)`,
      mt.cpuVsFloor <= 1.25,
    ),
    row(
      'session setup p50 (child running) ≤ 1.5 ms',
      '≤ 1.5 ms',
      mt.setupP50,
      `${f2(mt.setupP50)} ms`,
      mt.setupP50 <= 1.5,
    ),
    row(
      '≥ 1 000 open sessions',
      '≥ 1000',
      mt.openSessions,
      `${f0(mt.openSessions)}`,
      mt.openSessions >= 1000,
    ),
    row('supervisor RSS growth ≤ 50 KB/session', '≤ 50 KB', kb, `${f1(kb)} KB`, kb <= 50),
    row(
      'relay + children peak RSS ≤ 250 MB (1 tenant)',
      '≤ 250 MB',
      mt.peak1,
      `${f0(mt.peak1 / MB)} MB`,
      mt.peak1 <= 250 * MB,
    ),
    row(
      'built-in child: first answer ≤ 150 ms after spawn',
      '≤ 150 ms',
      mt.coldBuiltin,
      `${f0(mt.coldBuiltin)} ms`,
      mt.coldBuiltin <= 150,
    ),
    row(
      'serve --stdio answers initialize ≤ 500 ms (built-in tenant)',
      '≤ 500 ms',
      stdio.coldEcho,
      `${f0(stdio.coldEcho)} ms`,
      stdio.coldEcho <= 500,
    ),
    row(
      'noisy neighbour (cpu limits set): p99 ratio ≤ 2',
      '≤ 2.00×',
      mt.noisyRatio,
      `${f2(mt.noisyRatio)}× (${f0(mt.noisyAlone)} → ${f0(mt.noisyLoaded)} µs)`,
      mt.noisyRatio <= 2,
    ),
    row(
      'durable quota/telemetry path < ½ of CPU/call (does not dominate)',
      '< 50%',
      mt.stagesCpuUs,
      `+${f1(mt.stagesCpuUs)} µs CPU/call at 64×1 (${f0(mt['s64t1.cpuUsPerCall'])} vs ${f0(summary['mt-lean']?.['s64t1.cpuUsPerCall'])}), ` +
        `+${f0(mt.stagesP50Us)} µs p50, calls/s ×${f2(mt.stagesCallsRatio)}`,
      mt.stagesCpuUs < 0.5 * mt['s64t1.cpuUsPerCall'],
    ),
  ];
}

/** The one table: figures down, targets across; then the goals. */
export function renderTable(summary, goalRows, { startup, notes, rounds }) {
  const targets = COLUMNS.filter((t) => summary[t]);
  const rows = [
    ['tools/call at concurrency 1', null],
    ['p50 µs', (s) => f0(s.p50)],
    ['p95 µs', (s) => f0(s.p95)],
    ['p99 µs', (s) => f0(s.p99)],
    ['added p50 vs direct µs', (s) => f0(s.addedP50)],
    ["added p50 ÷ floor's", (s) => x(s.addedVsFloor)],
    ['throughput (calls/s, p99 µs)', null],
    ['16 sessions, 1 tenant calls/s', (s) => f0(s['s16t1.callsPerSec'])],
    ['16 sessions, 1 tenant p99', (s) => f0(s['s16t1.p99'])],
    ['64 sessions, 1 tenant calls/s', (s) => f0(s['s64t1.callsPerSec'])],
    ['64 sessions, 1 tenant p99', (s) => f0(s['s64t1.p99'])],
    ['64×1 calls/s ÷ floor', (s) => x(s.callsVsFloor)],
    ['16 sessions, 4 tenants calls/s', (s) => f0(s['s16t4.callsPerSec'])],
    ['16 sessions, 4 tenants p99', (s) => f0(s['s16t4.p99'])],
    ['64 sessions, 4 tenants calls/s', (s) => f0(s['s64t4.callsPerSec'])],
    ['64 sessions, 4 tenants p99', (s) => f0(s['s64t4.p99'])],
    ['cost', null],
    [
      'CPU µs/call at 64×1 (relay+child)',
      (s) =>
        f0(
          s['s64t1.cpuUsPerCall'] ?? s['s16t1.cpuUsPerCall'],
          s['s64t1.cpuUsPerCall'] === undefined && s['s16t1.cpuUsPerCall'] !== undefined
            ? '@16'
            : '',
        ),
    ],
    [
      'CPU s per 10 000 calls',
      (s) => f2(((s['s64t1.cpuUsPerCall'] ?? s['s16t1.cpuUsPerCall']) * 1e4) / 1e6),
    ],
    ['CPU/call ÷ floor', (s) => x(s.cpuVsFloor)],
    ['setup p50 ms (init+list)', (s) => f2(s.setupP50)],
    ['cold start p50 ms, echo child (stdio: serve → initialize, built-in)', (s) => f0(s.coldEcho)],
    ['cold start p50 ms, built-in', (s) => f0(s.coldBuiltin)],
    ['memory', null],
    ['relay RSS idle MB', (s) => mb(s.rssIdle)],
    ['relay RSS, 100 sessions MB', (s) => mb(s.rss100)],
    ['relay RSS, 1 000 sessions MB', (s) => mb(s.rss1000)],
    ['bytes per session', (s) => f0(s.bytesPerSession)],
    ['peak relay+children MB (1 tenant)', (s) => mb(s.peak1)],
    ['processes at that peak', (s) => f0(s.peak1Processes)],
    ['peak incl. 4 tenants MB', (s) => mb(s.peakAll)],
    ['isolation', null],
    ['noisy: quiet p99 alone µs', (s) => f0(s.noisyAlone)],
    ['noisy: quiet p99, other saturated', (s) => f0(s.noisyLoaded)],
    ['noisy-neighbour p99 ratio', (s) => x(s.noisyRatio)],
    ['durable path (stages on − off)', null],
    ['added p50 µs vs stages off', (s, t) => (t === 'mt-http' ? f0(s.stagesP50Us) : '')],
    ['added CPU µs/call at 64×1', (s, t) => (t === 'mt-http' ? f1(s.stagesCpuUs) : '')],
    ['64×1 calls/s ÷ stages off', (s, t) => (t === 'mt-http' ? x(s.stagesCallsRatio) : '')],
  ];
  const labelWidth = 35;
  const width = 11;
  const lines = [];
  lines.push(
    `${'figure (median of rounds)'.padEnd(labelWidth)}${targets.map((t) => HEADINGS[t].padStart(width)).join('')}`,
  );
  lines.push('-'.repeat(labelWidth + width * targets.length));
  for (const [label, render] of rows) {
    if (!render) {
      lines.push(`[${label}]`);
      continue;
    }
    const cells = targets.map((t) => (render(summary[t], t) || '–').padStart(width));
    lines.push(`${label.padEnd(labelWidth)}${cells.join('')}`);
  }
  lines.push('');
  lines.push(
    `goals (mcp-tenants over HTTP; ratios are same-round, median of ${rounds} round${rounds === 1 ? '' : 's'})`,
  );
  for (const g of goalRows) {
    lines.push(`  ${g.status.padEnd(7)} ${g.goal.padEnd(48)} ${g.limit.padEnd(9)} ${g.measured}`);
  }
  if (startup) {
    lines.push('');
    lines.push(
      `built-in child start-up (medians of ${startup.samples}): bare node ${f0(startup.bareNodeMs)} ms; ` +
        `in-process: bootstrap ${f0(startup.bootstrapMs)}, zod ${f0(startup.zodImportMs)}, ajv ${f0(startup.ajvImportMs)}, ` +
        `SDK ${f0(startup.sdkImportMs)}, better-sqlite3 ${f0(startup.sqliteImportMs)}, own modules ${f0(startup.appImportMs)}, ` +
        `SQLite open ${f0(startup.sqliteOpenMs)} ms; spawn → first answer ${f0(startup.childFirstAnswerMs)} ms`,
    );
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

/** The cluster section's ratios: [key in the JSON, scenario]; each against `1node`. */
const CLUSTER_RATIOS = [
  ['workers2/1node', 'workers2'],
  ['2nodesPG/1node', 'pg2'],
  ['1nodePG/1node', 'pg1'],
];

/**
 * The cluster section's medians over its rounds: per scenario, and the
 * ratios, each taken within a round (against that round's 1-node run) before
 * the median, like the goals of the main table.
 */
export function summarizeCluster(cluster) {
  const rounds = cluster.rounds.map((round) => round.results);
  const across = (name, extract) =>
    median(
      rounds.filter((results) => results[name]).map((results) => extract(results[name], results)),
    );
  const scenarios = {};
  for (const name of Object.keys(cluster.scenarios)) {
    if (!rounds.some((results) => results[name])) continue;
    const vsBaseline = (key) => (r, results) => div(r.load?.[key], results['1node']?.load?.[key]);
    scenarios[name] = {
      callsPerSec: across(name, (r) => r.load?.callsPerSec),
      p50: across(name, (r) => r.load?.p50),
      p99: across(name, (r) => r.load?.p99),
      cpuUsPerCall: across(name, (r) => r.load?.cpuUsPerCall),
      postgresCpuUsPerCall: across(name, (r) => r.load?.postgresCpuUsPerCall),
      errors: rounds.reduce((sum, results) => sum + (results[name]?.load?.errors ?? 0), 0),
      callsVsBaseline: name === '1node' ? undefined : across(name, vsBaseline('callsPerSec')),
      cpuVsBaseline: name === '1node' ? undefined : across(name, vsBaseline('cpuUsPerCall')),
      // How the 4 tenants fell on the nodes, by round ("3+1"): how much is forwarded.
      placements: rounds
        .map((results) => results[name])
        .filter((r) => r?.placement)
        .map((r) => tenantsPerNode(r.placement, r.nodes)),
    };
  }
  const ratios = {};
  for (const [key, name] of CLUSTER_RATIOS) {
    const s = scenarios[name];
    if (s?.callsVsBaseline !== undefined || s?.cpuVsBaseline !== undefined) {
      ratios[key] = { callsPerSec: s.callsVsBaseline, cpuUsPerCall: s.cpuVsBaseline };
    }
  }
  let forwarding;
  if (rounds.some((results) => results.pg2?.forwarding)) {
    const fw = (extract) =>
      across('pg2', (r) => (r.forwarding ? extract(r.forwarding) : undefined));
    forwarding = {
      localP50: fw((f) => f.local.p50),
      localP99: fw((f) => f.local.p99),
      forwardedP50: fw((f) => f.forwarded.p50),
      forwardedP99: fw((f) => f.forwarded.p99),
      p50Ratio: fw((f) => div(f.forwarded.p50, f.local.p50)),
      p99Ratio: fw((f) => div(f.forwarded.p99, f.local.p99)),
    };
    ratios['forwarded/local'] = { p50: forwarding.p50Ratio, p99: forwarding.p99Ratio };
  }
  return { scenarios, forwarding, ratios };
}

/** The cluster section's small table, printed after the main one. */
export function renderClusterTable(cluster, summary) {
  const count = cluster.rounds.length;
  const lines = [
    `cluster: 64 sessions over 4 tenants (16 each, echo child); median of ${count} round${count === 1 ? '' : 's'}; ` +
      'ratios against 1 node on SQLite, same round',
  ];
  const heads = [
    'calls/s',
    'p50 µs',
    'p99 µs',
    'CPU µs/call',
    'of it PG',
    'calls ÷ 1node',
    'CPU ÷ 1node',
  ];
  const labelWidth = 35;
  const width = 14;
  lines.push(`${'scenario'.padEnd(labelWidth)}${heads.map((h) => h.padStart(width)).join('')}`);
  lines.push('-'.repeat(labelWidth + width * heads.length));
  for (const [name, label] of Object.entries(cluster.scenarios)) {
    const s = summary.scenarios[name];
    const cells = s
      ? [
          f0(s.callsPerSec),
          f0(s.p50),
          f0(s.p99),
          f0(s.cpuUsPerCall),
          f0(s.postgresCpuUsPerCall),
          x(s.callsVsBaseline),
          x(s.cpuVsBaseline),
        ]
      : heads.map(() => '');
    lines.push(
      `${label.padEnd(labelWidth)}${cells.map((c) => (c || '–').padStart(width)).join('')}`,
    );
  }
  const fw = summary.forwarding;
  if (fw) {
    lines.push('');
    lines.push(
      'forwarded vs local: 2 nodes on PostgreSQL, one session of t0, sequential tools/call',
    );
    lines.push(
      `${''.padEnd(labelWidth)}${['p50 µs', 'p99 µs'].map((h) => h.padStart(width)).join('')}`,
    );
    const row = (label, a, b) =>
      lines.push(
        `${label.padEnd(labelWidth)}${[a, b].map((c) => (c || '–').padStart(width)).join('')}`,
      );
    row("through t0's owner (local)", f0(fw.localP50), f0(fw.localP99));
    row('through the other node (forwarded)', f0(fw.forwardedP50), f0(fw.forwardedP99));
    row('forwarded ÷ local', x(fw.p50Ratio), x(fw.p99Ratio));
  }
  const placed = Object.entries(summary.scenarios).filter(([, s]) => s.placements.length > 0);
  if (placed.length > 0) {
    lines.push(
      `note: tenants per node, by round: ${placed.map(([name, s]) => `${cluster.scenarios[name]} ${s.placements.join(', ')}`).join('; ')}`,
    );
  }
  for (const [name, s] of Object.entries(summary.scenarios)) {
    if (s.errors > 0) lines.push(`note: ${cluster.scenarios[name]}: ${s.errors} calls failed`);
  }
  for (const note of cluster.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

/** { tenant: node } → "3+1": tenants per node, most first; tenants without a node as "+1?". */
function tenantsPerNode(placement, nodes = []) {
  const counts = new Map(nodes.map((node) => [node, 0]));
  let unplaced = 0;
  for (const node of Object.values(placement)) {
    if (node) counts.set(node, (counts.get(node) ?? 0) + 1);
    else unplaced += 1;
  }
  const text = [...counts.values()].sort((a, b) => b - a).join('+');
  return unplaced > 0 ? `${text}+${unplaced}?` : text;
}

/** Writes bench/results/<YYYY-MM-DD>[-suffix].json and returns its path. */
export function writeResults(dir, data, suffix = '') {
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const path = join(dir, `${date}${suffix}.json`);
  writeFileSync(path, `${JSON.stringify(data, roundNumbers, 1)}\n`);
  return path;
}

function roundNumbers(_key, value) {
  if (typeof value !== 'number' || Number.isInteger(value)) return value;
  return Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 1000) / 1000;
}

function diff(a, b) {
  return typeof a === 'number' && typeof b === 'number' ? a - b : undefined;
}
function div(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : undefined;
}
const ok = (v) => typeof v === 'number' && Number.isFinite(v);
const f0 = (v, suffix = '') => (ok(v) ? `${Math.round(v).toLocaleString('en-US')}${suffix}` : '');
const f1 = (v) => (ok(v) ? v.toFixed(1) : '');
const f2 = (v) => (ok(v) ? v.toFixed(2) : '');
const x = (v) => (ok(v) ? `${v.toFixed(2)}×` : '');
const mb = (v) => (ok(v) ? (v / MB).toFixed(1) : '');
