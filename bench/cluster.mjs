// The cluster section of `npm run bench`: 64 sessions over 4 tenants (16 each, echo
// child) against one node on SQLite, `serve --workers 2` on SQLite, two nodes on one
// PostgreSQL store and one node on it, alternated round by round so every ratio
// compares neighbours in time; then, on the two-node cluster, one session served by
// its tenant's owner against one whose every request another node forwards there.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  postgresBinDir,
  postgresMissingReason,
  startPostgresServer,
} from '../test/helpers/postgres-server.mjs';
import { closedLoop, withConcurrency } from './drive.mjs';
import { HttpEndpoint, HttpSession } from './load-http.mjs';
import { CpuMeter, descendants, isAlive } from './proc.mjs';
import { summarize } from './stats.mjs';
import {
  CLI,
  freePort,
  LOAD_TENANTS,
  mcpTenantsWorkspace,
  startService,
  withoutManifestEnv,
} from './targets.mjs';

const run = promisify(execFile);
const NODE = process.execPath;
const URL_PATTERN = /http:\/\/127\.0\.0\.1:\d+\/mcp/;
const SESSIONS = 64;
/**
 * A node refreshes its view of the others every third of `cluster.lease_ms`;
 * until then it takes itself for alone (and answers 503 for a tenant a peer
 * holds). 2 s (the default is 10 s) lets a fresh cluster settle within a
 * second; its heartbeats, three small queries per node every 667 ms, are
 * nothing next to thousands of calls a second.
 */
const LEASE_MS = 2_000;
const SETTLE_MS = Math.max(200, Math.floor(LEASE_MS / 3)) + 300;

export const SCENARIOS = {
  '1node': { label: '1 node, SQLite', nodes: 1 },
  workers2: { label: 'serve --workers 2, SQLite', nodes: 1, workers: 2 },
  pg2: { label: '2 nodes, PostgreSQL', nodes: 2, postgres: true, forwarding: true },
  pg1: { label: '1 node, PostgreSQL', nodes: 1, postgres: true },
};

/** The PostgreSQL server of this run, while it runs (stopped by `stopClusterStore`). */
let postgres;

/**
 * Stops the PostgreSQL server at once, synchronously (so also from an exit or
 * signal handler). `pg_ctl` detaches the postmaster from the bench's process
 * tree, so the bench's usual sweep of its descendants would miss it.
 */
export function stopClusterStore() {
  const server = postgres;
  postgres = undefined;
  if (!server) return;
  try {
    server.instance.stop();
  } catch {
    // pg_ctl failed: the kill below still ends it.
  }
  const pid = server.pid;
  if (pid === undefined || !isAlive(pid)) return;
  for (const each of [pid, ...descendants(pid)]) {
    try {
      process.kill(each, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Runs the section: `config.rounds` rounds of every scenario (bounded by `config.budgetMs`). */
export async function measureCluster(config, log) {
  const started = Date.now();
  const notes = [];
  const rounds = [];
  const names = Object.keys(SCENARIOS);
  // A scenario that could not start once is not tried again: the cause stays.
  const unavailable = new Map();

  const pgReason = postgresMissingReason(postgresBinDir());
  if (pgReason) {
    for (const name of names) if (SCENARIOS[name].postgres) unavailable.set(name, pgReason);
  } else {
    try {
      const instance = await startPostgresServer();
      postgres = { instance, pid: instance.postmasterPid() };
      log(`cluster: PostgreSQL server up on port ${instance.port} (postmaster ${postgres.pid})`);
    } catch (error) {
      const reason = `PostgreSQL server did not start: ${firstLine(error)}`;
      for (const name of names) if (SCENARIOS[name].postgres) unavailable.set(name, reason);
    }
  }

  try {
    for (let r = 0; r < config.rounds; r++) {
      const roundStart = Date.now();
      const order = roundOrder(names, r).filter((name) => !unavailable.has(name));
      log(`cluster round ${r + 1}/${config.rounds}: ${order.join(' → ')}`);
      const results = {};
      for (const name of order) {
        const t0 = Date.now();
        try {
          results[name] = await measureScenario(name, SCENARIOS[name], config, r, log);
        } catch (error) {
          log(`cluster ${name}: FAILED ${error.stack ?? error}`);
          if (error.notStarted) unavailable.set(name, error.message);
          else notes.push(`${name} failed in round ${r + 1}: ${firstLine(error)}`);
        }
        for (const note of results[name]?.notes ?? []) notes.push(`${name}: ${note}`);
        log(`cluster ${name}: round ${r + 1} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      rounds.push({ order, results });
      // Stop early rather than overrun the section's budget with another round.
      const elapsed = Date.now() - started;
      const left = config.rounds - r - 1;
      if (left > 0 && elapsed + (Date.now() - roundStart) > config.budgetMs) {
        notes.push(
          `${left} round(s) left out to keep the section within ${config.budgetMs / 1000} s`,
        );
        break;
      }
    }
  } finally {
    stopClusterStore();
  }
  for (const [name, reason] of unavailable) {
    notes.push(`${SCENARIOS[name].label}: no figures (${reason})`);
  }
  return {
    durationSeconds: Math.round((Date.now() - started) / 1000),
    scenarios: Object.fromEntries(names.map((name) => [name, SCENARIOS[name].label])),
    rounds,
    notes,
  };
}

/** Each round starts one scenario further along and runs backwards every other round. */
function roundOrder(names, round) {
  const rotated = names.map((_, i) => names[(i + round) % names.length]);
  return round % 2 === 1 ? rotated.reverse() : rotated;
}

/** One scenario, started fresh: 64 sessions under load, then (2 nodes) forwarded vs local. */
async function measureScenario(name, scenario, config, round, log) {
  const handle = await startScenario(name, scenario, round);
  const out = { nodes: handle.nodes.flatMap((node) => node.nodeIds), notes: [] };
  let load = [];
  const latencySessions = [];
  try {
    // Session i: tenant i mod 4, and each tenant's sessions alternate over the nodes.
    load = await withConcurrency(Array.from({ length: SESSIONS }), 16, (_, i) =>
      handle.openSession(i % LOAD_TENANTS.length, Math.floor(i / LOAD_TENANTS.length)),
    );
    // Warm-up, not measured: a fresh process runs cold code until the JIT catches up.
    await closedLoop(
      load.map((session) => () => session.echo()),
      { warmupMs: 0, measureMs: config.warm.ms },
    );
    out.load = await throughput(handle, load, config);
    log(`cluster ${name}: ${describe(out.load)}`);
    // Which node owns which tenant decides how many calls are forwarded.
    if (handle.nodeCount > 1) {
      out.placement = await tenantNodes(handle);
      log(`cluster ${name}: tenants on ${JSON.stringify(out.placement)}`);
    }

    if (scenario.forwarding) {
      // Open both sessions while the load's are still open: a tenant with open
      // sessions stays with its owner, so t0 cannot move between the two phases.
      const forwarding = await openForwardingPair(handle, out.placement, latencySessions);
      await closeAll(load);
      load = [];
      out.forwarding = await forwardedVsLocal(forwarding, config, round);
      log(
        `cluster ${name}: t0 on ${forwarding.owner}: local p50 ${f0(out.forwarding.local.p50)} p99 ${f0(out.forwarding.local.p99)} µs, ` +
          `forwarded p50 ${f0(out.forwarding.forwarded.p50)} p99 ${f0(out.forwarding.forwarded.p99)} µs`,
      );
    }
  } finally {
    await closeAll([...load, ...latencySessions]);
    const survivors = await handle.stop();
    if (survivors > 0) out.notes.push(`${survivors} processes had to be SIGKILLed at stop`);
    if (handle.retries.count > 0) {
      out.notes.push(`${handle.retries.count} initialize requests answered 503 and were retried`);
    }
  }
  return out;
}

async function closeAll(sessions) {
  await Promise.all(sessions.map((session) => session.close().catch(() => {})));
}

/** Starts the scenario's nodes on a fresh store; an error that says so when one fails. */
async function startScenario(name, scenario, round) {
  let store;
  if (scenario.postgres) {
    if (!postgres) throw notStarted('the PostgreSQL server is not running');
    store = await postgres.instance.createDatabase(`bench_${name}_r${round + 1}`);
  }
  // Ports chosen up front: a node checks the Host of every request, a forwarded
  // one too, and the sessions reach the owner under the other node's Host.
  const ports =
    scenario.nodes > 1 ? await Promise.all(Array.from({ length: scenario.nodes }, freePort)) : [0];
  const workspace = mcpTenantsWorkspace({
    loadOnly: true,
    server: {
      ...(store ? { store } : {}),
      ...(scenario.nodes > 1 ? { allowed_hosts: ports.map((port) => `127.0.0.1:${port}`) } : {}),
    },
    cluster: { lease_ms: LEASE_MS },
  });
  const manifests = Array.from({ length: scenario.nodes }, (_, i) =>
    i === 0 ? workspace.manifestPath : workspace.nodeManifest(i),
  );
  const extra = scenario.workers ? ['--workers', String(scenario.workers)] : [];
  // Nodes start together, as a cluster's would; the store migrates once, under a lock.
  const settled = await Promise.allSettled(
    manifests.map((manifestPath, i) => startNode(manifestPath, ports[i], extra)),
  );
  const nodes = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  const failure = settled.find((s) => s.status === 'rejected');
  if (failure) {
    await Promise.all(nodes.map((node) => node.service.stop()));
    workspace.cleanup();
    throw notStarted(`serve did not start: ${whyNotStarted(failure.reason)}`);
  }
  // The first node up learns of the others on its next refresh: wait for it.
  if (scenario.nodes > 1 || scenario.workers) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
  return clusterHandle(workspace, nodes, store ? postgres.pid : undefined);
}

/** One `serve` process (a primary with its workers under --workers) and the node ids it printed. */
async function startNode(manifestPath, port, extraArgs) {
  const service = await startService(
    NODE,
    [CLI, 'serve', '-m', manifestPath, '--port', String(port), ...extraArgs],
    { urlPattern: URL_PATTERN, env: withoutManifestEnv() },
  );
  // The banner is one write, but wait a little in case it arrives in pieces.
  let nodeIds = bannerNodeIds(service.stdout());
  for (let i = 0; i < 40 && nodeIds.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    nodeIds = bannerNodeIds(service.stdout());
  }
  return { service, manifestPath, url: service.url, nodeIds };
}

/** `node: <id>` for one node, `workers: 2 (nodes a, b)` for workers; none on a lone node. */
function bannerNodeIds(stdout) {
  const one = /^\s+node: (\S+)\s*$/m.exec(stdout);
  if (one) return [one[1]];
  const workers = /^\s+workers: \d+ \(nodes ([^)]*)\)/m.exec(stdout);
  return workers ? workers[1].split(',').map((id) => id.trim()) : [];
}

/** The nodes of one scenario behind the calls the phases need. */
function clusterHandle(workspace, nodes, postgresPid) {
  const retries = { count: 0 };
  const endpoints = new Map(); // `${node}/${tenant}` -> HttpEndpoint
  const endpointFor = async (tenant, nodeIndex) => {
    const key = `${nodeIndex}/${tenant}`;
    if (!endpoints.has(key)) {
      const token = await workspace.token(tenant);
      endpoints.set(key, new HttpEndpoint(nodes[nodeIndex].url, { token, maxSockets: 64 }));
    }
    return endpoints.get(key);
  };
  return {
    nodes,
    /** Nodes of the cluster: each `serve`, or each worker of one. */
    nodeCount: nodes.reduce((sum, node) => sum + Math.max(1, node.nodeIds.length), 0),
    retries,
    /** Every supervisor process, and the PostgreSQL server when one serves the store. */
    roots: () => [...nodes.map((node) => node.service.pid), ...(postgresPid ? [postgresPid] : [])],
    postgresPid,
    manifestPath: workspace.manifestPath,
    /** A session of tenant `tenantIndex` through node `nodeIndex` (modulo the node count). */
    async openSession(tenantIndex, nodeIndex = 0) {
      const endpoint = await endpointFor(LOAD_TENANTS[tenantIndex], nodeIndex % nodes.length);
      return openSession(endpoint, retries);
    },
    /** A session on an endpoint of its own: one connection, nothing shared with the load. */
    async openLoneSession(tenant, nodeIndex) {
      const endpoint = new HttpEndpoint(nodes[nodeIndex].url, {
        token: await workspace.token(tenant),
        maxSockets: 1,
      });
      const session = await openSession(endpoint, retries);
      const close = session.close.bind(session);
      session.close = async () => {
        await close();
        endpoint.close();
      };
      return session;
    },
    async stop() {
      for (const endpoint of endpoints.values()) endpoint.close();
      const survivors = await Promise.all(nodes.map((node) => node.service.stop()));
      workspace.cleanup();
      return survivors.reduce((a, b) => a + b, 0);
    },
  };
}

/**
 * initialize + initialized, retried (100 ms apart, 5 s at most) while the
 * answer is a 503: what a client is told to do while a tenant changes hands.
 */
async function openSession(endpoint, retries) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await new HttpSession(endpoint).open();
    } catch (error) {
      if (!/HTTP 503/.test(String(error.message)) || Date.now() > deadline) throw error;
      retries.count += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** 64 sessions back to back: calls/s, latency, and CPU per call of every process serving them. */
async function throughput(handle, sessions, config) {
  const pgPid = handle.postgresPid;
  // The PostgreSQL server's own share, over the same window (starts when the warm-up ends).
  let pgMeter;
  const pgTimer = pgPid
    ? setTimeout(() => {
        pgMeter = new CpuMeter([pgPid]);
      }, config.throughput.warmupMs)
    : undefined;
  const result = await closedLoop(
    sessions.map((session) => () => session.echo()),
    { ...config.throughput, cpuRoots: handle.roots() },
  );
  clearTimeout(pgTimer);
  const pgSeconds = pgMeter?.seconds();
  const { p50, p99 } = summarize(result.latencies);
  const perCall = (seconds) =>
    result.calls > 0 && seconds !== undefined ? (seconds * 1e6) / result.calls : undefined;
  return {
    calls: result.calls,
    seconds: result.seconds,
    callsPerSec: result.callsPerSec,
    p50,
    p99,
    cpuUsPerCall: perCall(result.cpuSeconds),
    ...(pgPid ? { postgresCpuUsPerCall: perCall(pgSeconds) } : {}),
    errors: result.errors,
    ...(result.lastError ? { lastError: result.lastError } : {}),
  };
}

/** Each tenant's node, as the first node sees it (`tenants --json` gives each tenant's `node`). */
async function tenantNodes(handle) {
  const base = handle.nodes[0].url.replace(/\/mcp$/, '');
  const { stdout } = await run(
    NODE,
    [CLI, 'tenants', '--json', '-m', handle.manifestPath, '--url', base],
    { env: withoutManifestEnv(), timeout: 15_000 },
  );
  return Object.fromEntries(JSON.parse(stdout).tenants.map((tenant) => [tenant.id, tenant.node]));
}

/** The node holding a session: its id is `<node>.<uuid>`. */
const holderOf = (session) => String(session.headers['mcp-session-id'] ?? '').split('.')[0];

/**
 * Opens one session of t0 through its owner and one through the other node.
 * Both must be held by the owner (an initialize goes to the tenant's owner),
 * or the second would not be forwarded.
 */
async function openForwardingPair(handle, placement, keep) {
  const tenant = LOAD_TENANTS[0];
  let owner = placement?.[tenant];
  if (!owner) {
    // Not in the first node's view: the node that holds a new session owns the tenant.
    const probe = await handle.openLoneSession(tenant, 0);
    keep.push(probe);
    owner = holderOf(probe);
  }
  const ownerIndex = handle.nodes.findIndex((node) => node.nodeIds.includes(owner));
  if (ownerIndex < 0) {
    const ids = handle.nodes.map((node) => node.nodeIds[0]).join(', ');
    throw new Error(`${tenant}'s node is ${owner ?? 'none'}, none of ${ids}`);
  }
  const local = await handle.openLoneSession(tenant, ownerIndex);
  keep.push(local);
  const forwarded = await handle.openLoneSession(tenant, 1 - ownerIndex);
  keep.push(forwarded);
  for (const session of [local, forwarded]) {
    const holder = holderOf(session);
    if (holder !== owner) {
      throw new Error(
        `a session of ${tenant} is held by ${holder || '(no session id)'}, not by ${owner}`,
      );
    }
  }
  return { owner, local, forwarded };
}

/** Sequential calls on each session, in an order that alternates by round. */
async function forwardedVsLocal({ owner, local, forwarded }, config, round) {
  const measure = async (session) => {
    const result = await closedLoop([() => session.echo()], config.latency);
    return { ...summarize(result.latencies), errors: result.errors };
  };
  const out = { owner };
  for (const which of round % 2 === 0 ? ['local', 'forwarded'] : ['forwarded', 'local']) {
    out[which] = await measure(which === 'local' ? local : forwarded);
  }
  return out;
}

/** An error meaning the scenario could not run at all (so later rounds skip it). */
function notStarted(message) {
  const error = new Error(message);
  error.notStarted = true;
  return error;
}

/** The supervisor's own last word (`mcp-tenants: …`), else the last line it wrote. */
function whyNotStarted(error) {
  const lines = String(error?.message ?? error)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.filter((line) => line.startsWith('mcp-tenants:')).pop() ?? lines.pop() ?? '?';
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

function describe(load) {
  return (
    `${f0(load.callsPerSec)} calls/s p50 ${f0(load.p50)} p99 ${f0(load.p99)} µs CPU ${f0(load.cpuUsPerCall)} µs/call` +
    (load.postgresCpuUsPerCall !== undefined
      ? ` (PostgreSQL ${f0(load.postgresCpuUsPerCall)})`
      : '') +
    (load.errors ? ` errors ${load.errors} (${load.lastError})` : '')
  );
}

const f0 = (value) => (typeof value === 'number' ? String(Math.round(value)) : '–');
