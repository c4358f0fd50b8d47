#!/usr/bin/env node
// Runs the official MCP conformance suite (@modelcontextprotocol/conformance
// 0.2.0-alpha.12, server scenarios) against `mcp-tenants serve`, once per
// child and per spec revision, and reports per scenario. The children, each
// the one shared child of its own `serve`:
//   v1  test/fixtures/conformance-server.mjs     (1.x SDK, @modelcontextprotocol/sdk)
//   v2  test/fixtures/conformance-server-v2.mjs  (2.x SDK, @modelcontextprotocol/server)
// The revisions are the suite's frozen requirement sets, run with
// `server --requirements <revision>`: exactly the scenarios that revision
// requires, each at that revision's wire (2025-11-25: initialize handshake and
// sessions; 2026-07-28: stateless, per-request _meta), plus the ones it runs
// without scoring them (extensions, pending, added after the release).
//
//   npm run conformance        # build, then both children x both revisions
//   node scripts/conformance.mjs [scenario ...] [--child v1|v2|both]
//     [--requirements 2025-11-25|2026-07-28|both] [--parallel N] [--keep] [--verbose]
//
// Naming scenarios runs only those, each under every selected revision that
// lists it (`server --scenario <name> --spec-version <revision> --force`, which
// is what a requirement-set run does per scenario).
// --parallel N runs N copies of the suite at once against the same child (N
// concurrent sessions reusing the same JSON-RPC ids and progress tokens); a
// scenario passes only if it passes in every copy.
// --keep keeps the work folder (manifests, serve logs, the suite's output and
// checks.json per scenario); --verbose prints the suite's own output.
//
// Installs nothing. The suite needs Node 22 and is looked for in
// $MCP_CONFORMANCE_HOME (default: .cache/conformance in the repo), installed
// once with (later runs need no network; npm's cache also makes a reinstall offline):
//   npm install --prefix .cache/conformance --no-save \
//     @modelcontextprotocol/conformance@0.2.0-alpha.12 node-$(node -p 'process.platform+"-"+process.arch')@22
// Node 22 is that folder's node-<platform>-<arch> binary, or $MCP_CONFORMANCE_NODE,
// or this very node when it is 22 or newer. Without them it says so and exits 2.
//
// The suite sends no custom headers, and mcp-tenants requires a bearer token
// on every request: a loopback-only forward proxy in this script adds
// `Authorization: Bearer <token>` and streams both directions unchanged
// (SSE included). Like any reverse proxy it presents its own loopback
// authority to the server as the server's (Host 127.0.0.1:<proxy port> ->
// 127.0.0.1:<serve port>, Origin likewise); foreign Host/Origin values (the
// DNS-rebinding scenario's evil.example.com) pass untouched.
//
// Output: one table per (child, revision) with each scenario's passed, failed
// and total checks; a summary line per table counting the required scenarios
// that pass (`2026-07-28 · 2.x child: 26/37`); bench/results/conformance-<date>.json
// with every table; and a check that no process is left behind. Exit 1 when
// a required scenario fails or a process is left behind (scenarios run but not
// scored are reported and never fail the run, as in the suite itself).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const SUITE_VERSION = '0.2.0-alpha.12';
const REVISIONS = ['2025-11-25', '2026-07-28'];
const CHILDREN = {
  v1: { label: '1.x child', fixture: 'test/fixtures/conformance-server.mjs' },
  v2: { label: '2.x child', fixture: 'test/fixtures/conformance-server-v2.mjs' },
};
const TENANT = 'conformance';
/** For one suite process: a requirement set is ~50 scenarios of at most 30 s each. */
const SUITE_TIMEOUT_MS = 20 * 60_000;
const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'bin', 'mcp-tenants.js');
const HOME = process.env.MCP_CONFORMANCE_HOME ?? join(REPO, '.cache', 'conformance');

const options = parseArgs(process.argv.slice(2));

const cleanups = [];
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (let step = cleanups.pop(); step; step = cleanups.pop()) await step().catch(() => {});
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup().finally(() => process.exit(130));
  });
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`conformance: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  await cleanup();
}

function parseArgs(argv) {
  const usage =
    'usage: conformance.mjs [scenario ...] [--child v1|v2|both] ' +
    '[--requirements 2025-11-25|2026-07-28|both] [--parallel N] [--keep] [--verbose]';
  const fail = (message) => {
    console.error(`conformance: ${message}\n${usage}`);
    process.exit(2);
  };
  const parsed = {
    keep: false,
    verbose: false,
    parallel: 1,
    children: Object.keys(CHILDREN),
    revisions: REVISIONS,
    only: [],
  };
  const pick = (value, known, flag) => {
    if (value === 'both') return known;
    if (!known.includes(value)) fail(`${flag} takes ${known.join(', ')} or both`);
    return [value];
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    const value = () => {
      if (index + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++index];
    };
    if (arg === '--keep') parsed.keep = true;
    else if (arg === '--verbose') parsed.verbose = true;
    else if (arg === '--child') parsed.children = pick(value(), Object.keys(CHILDREN), arg);
    else if (arg === '--requirements') parsed.revisions = pick(value(), REVISIONS, arg);
    else if (arg === '--parallel') {
      parsed.parallel = Number(value());
      if (!(Number.isInteger(parsed.parallel) && parsed.parallel >= 1)) {
        fail('--parallel takes a positive integer');
      }
    } else if (arg.startsWith('--')) fail(`unknown option ${arg}`);
    else parsed.only.push(arg);
  }
  return parsed;
}

async function main() {
  const { node, suite, packageDir } = findSuite();
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (or `npm run conformance`)');
  }
  const sets = new Map(
    options.revisions.map((revision) => [revision, requirementSet(packageDir, revision)]),
  );
  for (const name of options.only) {
    if (![...sets.values()].some((set) => set.scenarios.has(name))) {
      throw new Error(
        `${name} is not a server scenario of requirements ${options.revisions.join(' or ')} ` +
          `(see: ${node} ${suite} list --requirements <revision>)`,
      );
    }
  }
  const started = new Date();
  const work = mkdtempSync(join(tmpdir(), 'mcp-tenants-conformance-'));
  cleanups.push(async () => {
    if (options.keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  const tables = [];
  const children = [];
  for (const child of options.children) {
    if (cleaned) throw new Error('interrupted');
    const { runs, processes } = await runChild(child, sets, { node, suite, work });
    tables.push(...runs);
    children.push(processes);
  }

  console.log('');
  for (const table of tables) console.log(summaryLine(table));
  const leftBehind = children.flatMap((entry) => entry.leftBehind);
  const report = {
    date: started.toISOString(),
    suite: `@modelcontextprotocol/conformance@${SUITE_VERSION}`,
    node: { suite: run(node, ['--version']).trim(), serve: process.version },
    tenants: 1,
    parallel: options.parallel,
    selection: {
      children: options.children,
      revisions: options.revisions,
      scenarios:
        options.only.length > 0 ? options.only : 'every server scenario of each requirement set',
    },
    runs: tables,
    children,
  };
  const resultsDir = join(REPO, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  // A partial or parallel run does not overwrite the day's full result.
  const partial =
    options.only.length > 0 ||
    options.children.length < Object.keys(CHILDREN).length ||
    options.revisions.length < REVISIONS.length;
  const suffix = `${partial ? '-partial' : ''}${options.parallel > 1 ? `-parallel${options.parallel}` : ''}`;
  const file = join(resultsDir, `conformance-${started.toISOString().slice(0, 10)}${suffix}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results: ${file}`);
  const requiredFailing = tables.some((table) => table.required.passed < table.required.total);
  return !requiredFailing && leftBehind.length === 0 ? 0 : 1;
}

/**
 * One child behind its own `serve`: every selected revision against it, then
 * everything stopped and checked for leftovers.
 */
async function runChild(child, sets, { node, suite, work }) {
  const { label, fixture } = CHILDREN[child];
  const home = join(work, child);
  mkdirSync(home);
  // One tenant on the conformance child; JSON is valid YAML.
  const manifestPath = join(home, 'tenants.yaml');
  const manifest = {
    server: { data_dir: './data' },
    auth: { secret: randomBytes(32).toString('base64url') },
    tenants: { [TENANT]: { command: process.execPath, args: [join(REPO, fixture)] } },
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2), { mode: 0o600 });
  const token = run(process.execPath, [
    CLI,
    'token',
    TENANT,
    '-m',
    manifestPath,
    '--user',
    'conformance',
    '--ttl',
    '2h',
  ]).trim();

  const serve = await startServe(manifestPath, join(home, 'serve.log'));
  cleanups.push(() => serve.stop());
  const proxy = await startProxy(serve.url, token);
  cleanups.push(() => proxy.close());
  console.log(
    `\n${label} (${fixture}): mcp-tenants serve at ${serve.url} (pid ${serve.pid}); ` +
      `suite talks to ${proxy.url}`,
  );
  // Every child serve had during the run: proof that one child served it all.
  const childPids = new Set();
  const sampler = setInterval(() => {
    for (const pid of serve.descendants()) childPids.add(pid);
  }, 250);
  cleanups.push(async () => clearInterval(sampler));

  const runs = [];
  for (const [revision, set] of sets) {
    if (cleaned) throw new Error('interrupted');
    const names =
      options.only.length > 0 ? set.order.filter((name) => options.only.includes(name)) : set.order;
    if (names.length === 0) continue;
    const rows = await runRevision({ node, suite, proxy, home, child, revision, set, names });
    const table = {
      child,
      label,
      fixture,
      revision,
      required: countPassing(rows.filter((row) => row.scored)),
      notScored: countPassing(rows.filter((row) => !row.scored)),
      scenarios: rows,
    };
    printTable(table);
    runs.push(table);
  }

  // Stop everything before judging leftovers.
  clearInterval(sampler);
  const before = serve.descendants();
  for (const pid of before) childPids.add(pid);
  await proxy.close();
  const { code: serveExit } = await serve.stop();
  const leftBehind = await waitGone([serve.pid, ...before]);
  console.log(
    `${label}: children of serve seen: ${[...childPids].join(', ') || 'none'} ` +
      `(${childPids.size === 1 ? 'one shared child' : 'NOT one child'})`,
  );
  console.log(
    leftBehind.length === 0
      ? `${label}: serve exited (${serveExit}); no process left behind`
      : `${label}: LEFT BEHIND: ${leftBehind.join(', ')}`,
  );
  return { runs, processes: { child, childPids: [...childPids], serveExit, leftBehind } };
}

/** One revision's scenarios against one child, in `options.parallel` copies of the suite. */
async function runRevision({ node, suite, proxy, home, child, revision, set, names }) {
  // A whole requirement set is one suite process; named scenarios are one each.
  const selections =
    options.only.length > 0
      ? names.map((name) => ['--scenario', name, '--spec-version', revision, '--force'])
      : [['--requirements', revision]];
  console.log(
    `running ${revision} (${names.length} scenarios)${options.parallel > 1 ? ` x${options.parallel}` : ''} ...`,
  );
  const results = new Map();
  for (const [index, selection] of selections.entries()) {
    if (cleaned) throw new Error('interrupted');
    const outs = await Promise.all(
      Array.from({ length: options.parallel }, async (_, copy) => {
        const tag = `${revision}-${index}-${copy}`;
        const out = join(home, `out-${tag}`);
        const args = ['server', '--url', proxy.url, ...selection, '-o', out];
        const { code, stdout } = await runSuite(node, suite, args);
        writeFileSync(join(home, `suite-${tag}.log`), stdout);
        if (options.verbose) console.log(stdout);
        if (code === null && !cleaned) {
          console.error(`  ${child} ${selection.join(' ')}: killed after ${SUITE_TIMEOUT_MS} ms`);
        }
        return out;
      }),
    );
    for (const out of outs) {
      for (const result of readChecks(out)) {
        results.set(result.scenario, merge(results.get(result.scenario), result));
      }
    }
  }
  return names.map((scenario) => {
    const scoring = { scored: !set.notScored.has(scenario), reason: set.notScored.get(scenario) };
    const result = results.get(scenario) ?? {
      scenario,
      status: 'FAIL',
      passed: 0,
      failed: 0,
      warnings: 0,
      total: 0,
      failures: [],
      runs: 0,
    };
    if (result.runs === options.parallel) return { ...scoring, ...result };
    const missing = options.parallel - result.runs;
    return {
      ...scoring,
      ...result,
      status: 'FAIL',
      failed: result.failed + missing,
      total: result.total + missing,
      failures: [
        ...result.failures,
        { status: 'FAILURE', id: 'no-result', message: `no checks from ${missing} run(s)` },
      ],
    };
  });
}

/** The suite's entry point and a Node 22+ to run it, or a clear way to get them. */
function findSuite() {
  const packageDir = join(HOME, 'node_modules', '@modelcontextprotocol', 'conformance');
  const suite = join(packageDir, 'dist', 'index.js');
  const platformNode = join(
    HOME,
    'node_modules',
    `node-${process.platform}-${process.arch}`,
    'bin',
    'node',
  );
  const node =
    process.env.MCP_CONFORMANCE_NODE ??
    (existsSync(platformNode)
      ? platformNode
      : Number(process.versions.node.split('.')[0]) >= 22
        ? process.execPath
        : undefined);
  const install =
    `npm install --prefix ${HOME} --no-save @modelcontextprotocol/conformance@${SUITE_VERSION} ` +
    `node-${process.platform}-${process.arch}@22`;
  if (!existsSync(suite))
    throw new Error(`conformance suite not found in ${HOME}; install it once:\n  ${install}`);
  if (!node)
    throw new Error(`Node 22 not found (the suite needs it); install it once:\n  ${install}`);
  const major = Number(run(node, ['--version']).trim().replace(/^v/, '').split('.')[0]);
  if (!(major >= 22)) throw new Error(`${node} is Node ${major}; the suite needs Node 22 or newer`);
  const version = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version;
  if (!existsSync(join(packageDir, 'requirements'))) {
    throw new Error(
      `the suite in ${HOME} is ${version}, which has no requirement sets; install ${SUITE_VERSION}:\n  ${install}`,
    );
  }
  if (version !== SUITE_VERSION) {
    console.warn(`note: suite is ${version}; this script was written for ${SUITE_VERSION}`);
  }
  return { node, suite, packageDir };
}

/**
 * A revision's server scenarios, from the suite's own requirements/<revision>.yaml:
 * the required ones first, then those run without being scored (and why).
 */
function requirementSet(packageDir, revision) {
  const file = join(packageDir, 'requirements', `${revision}.yaml`);
  if (!existsSync(file))
    throw new Error(`the suite has no requirement set for ${revision} (${file})`);
  const yaml = parseYaml(readFileSync(file, 'utf8')) ?? {};
  const required = yaml.server ?? [];
  const notScored = new Map(
    (yaml.not_scored ?? [])
      .filter((entry) => entry.leg === 'server')
      .map((entry) => [entry.scenario, entry.reason]),
  );
  const order = [...required, ...notScored.keys()];
  return { order, scenarios: new Set(order), notScored };
}

/** One scenario's results over several copies of the suite. */
function merge(before, result) {
  if (!before) return { ...result, runs: 1 };
  return {
    ...before,
    status: before.status === 'PASS' && result.status === 'PASS' ? 'PASS' : 'FAIL',
    passed: before.passed + result.passed,
    failed: before.failed + result.failed,
    warnings: before.warnings + result.warnings,
    total: before.total + result.total,
    failures: [...before.failures, ...result.failures],
    runs: before.runs + 1,
  };
}

/** Per scenario: the checks.json the suite wrote under `-o`, summarised. */
function readChecks(out) {
  if (!existsSync(out)) return [];
  return readdirSync(out).flatMap((entry) => {
    const file = join(out, entry, 'checks.json');
    const match = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
    if (!match || !existsSync(file)) return [];
    const checks = JSON.parse(readFileSync(file, 'utf8'));
    const count = (status) => checks.filter((check) => check.status === status).length;
    const failed = count('FAILURE');
    return [
      {
        scenario: match[1],
        status: failed === 0 ? 'PASS' : 'FAIL',
        passed: count('SUCCESS'),
        failed,
        warnings: count('WARNING'),
        // Everything the scenario reported, SKIPPED and INFO included.
        total: checks.length,
        failures: checks
          .filter((check) => check.status === 'FAILURE' || check.status === 'WARNING')
          .map((check) => ({
            status: check.status,
            id: check.id,
            message: check.errorMessage ?? check.description,
          })),
      },
    ];
  });
}

function countPassing(rows) {
  return { passed: rows.filter((row) => row.status === 'PASS').length, total: rows.length };
}

function summaryLine(table) {
  const notScored =
    table.notScored.total > 0
      ? ` (not scored: ${table.notScored.passed}/${table.notScored.total} pass)`
      : '';
  return `${table.revision} · ${table.label}: ${table.required.passed}/${table.required.total}${notScored}`;
}

function printTable(table) {
  const rows = table.scenarios;
  const width = Math.max(...rows.map((row) => row.scenario.length), 8);
  const scoring = (row) => (row.scored ? 'required' : row.reason);
  console.log(`\n${table.revision} · ${table.label} (${table.fixture})`);
  console.log(
    `${'scenario'.padEnd(width)}  ${'scored'.padEnd(19)}  result  passed  failed  total  notes`,
  );
  for (const row of rows) {
    const note = row.failures
      .map(
        (failure) =>
          `${failure.status === 'WARNING' ? 'warn' : 'fail'} ${failure.id}: ${failure.message}`,
      )
      .join(' | ');
    console.log(
      `${row.scenario.padEnd(width)}  ${scoring(row).padEnd(19)}  ${row.status.padEnd(6)}  ` +
        `${String(row.passed).padStart(6)}  ${String(row.failed).padStart(6)}  ${String(row.total).padStart(5)}` +
        `${note ? `  ${note.slice(0, 200)}` : ''}`,
    );
  }
  console.log(summaryLine(table));
}

// ---- processes ---------------------------------------------------------------

function run(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8', env: envWithoutManifest() });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

function envWithoutManifest() {
  const env = { ...process.env };
  delete env.MCP_TENANTS_MANIFEST;
  return env;
}

/** Runs the suite; resolves with its exit code (null when it was killed for time). */
function runSuite(node, suite, args) {
  return new Promise((resolve) => {
    if (cleaned) {
      resolve({ code: null, stdout: '' });
      return;
    }
    const child = spawn(node, [suite, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS);
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    cleanups.push(stop);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? null : code, stdout });
    });
  });
}

/** `mcp-tenants serve --port 0`, once it printed its URL. */
async function startServe(manifestPath, logPath) {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '-m', manifestPath, '--port', '0', '--log-level', 'debug'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: envWithoutManifest() },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 15_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /http:\/\/127\.0\.0\.1:\d+\/mcp/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
  let stopping;
  return {
    url,
    pid: child.pid,
    descendants: () => descendants(child.pid),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(timer);
        writeFileSync(logPath, stderr);
        return { code };
      })();
      return stopping;
    },
  };
}

/** Live descendants of `root`, from `ps` (Linux and macOS). */
function descendants(root) {
  const table = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,stat='], { encoding: 'utf8' }).stdout;
  const children = new Map();
  for (const line of table.split('\n')) {
    const [pid, ppid, stat] = line.trim().split(/\s+/);
    if (!pid || stat?.startsWith('Z')) continue;
    const list = children.get(Number(ppid)) ?? [];
    list.push(Number(pid));
    children.set(Number(ppid), list);
  }
  const found = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const pid of children.get(queue.shift()) ?? []) {
      found.push(pid);
      queue.push(pid);
    }
  }
  return found;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout;
  return stat.trim() !== '' && !stat.trim().startsWith('Z');
}

async function waitGone(pids, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

// ---- the header-injecting proxy ----------------------------------------------

/**
 * A loopback-only HTTP forward proxy to `target` that adds the bearer token
 * and streams request and response bodies as they come (SSE included).
 */
async function startProxy(target, token) {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const loopback = ['127.0.0.1', 'localhost', '[::1]'];
  let own = new Set();
  // Our own authority becomes the server's; anything else passes unchanged.
  const mapHost = (host) => {
    if (typeof host !== 'string' || !own.has(host.toLowerCase())) return host;
    return `${host.slice(0, host.lastIndexOf(':'))}:${upstream.port}`;
  };
  const mapOrigin = (origin) => {
    if (typeof origin !== 'string' || !origin.startsWith('http://')) return origin;
    const host = origin.slice('http://'.length);
    return own.has(host.toLowerCase()) ? `http://${mapHost(host)}` : origin;
  };

  const server = http.createServer((request, response) => {
    const headers = { ...request.headers, authorization: `Bearer ${token}` };
    headers.host = mapHost(request.headers.host);
    if (headers.origin !== undefined) headers.origin = mapOrigin(headers.origin);
    const forward = http.request(
      {
        agent,
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        response.flushHeaders();
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    forward.on('error', (error) => {
      if (!response.headersSent) {
        response.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${error.message}`);
      } else response.destroy();
    });
    request.pipe(forward);
    // The client went away (e.g. closed an SSE stream): so does the upstream request.
    response.on('close', () => {
      if (!response.writableFinished) forward.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  own = new Set(loopback.map((name) => `${name}:${port}`));
  let closing;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
}
