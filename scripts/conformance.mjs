#!/usr/bin/env node
// Runs the official MCP conformance suite (@modelcontextprotocol/conformance
// 0.1.16, server scenarios) against `mcp-tenants serve` fronting ONE shared
// child, test/fixtures/conformance-server.mjs, and reports per scenario.
//
//   npm run conformance                    # build, then every listed server scenario
//   node scripts/conformance.mjs [scenario ...] [--parallel N] [--keep] [--verbose]
//
// --parallel N runs N copies of the suite at once against the same child (N
// concurrent sessions reusing the same JSON-RPC ids and progress tokens); a
// scenario passes only if it passes in every copy.
//
// Installs nothing. The suite needs Node 22 and is looked for in
// $MCP_CONFORMANCE_HOME (default: .cache/conformance in the repo), installed
// once with (later runs need no network; npm's cache also makes a reinstall offline):
//   npm install --prefix .cache/conformance --no-save \
//     @modelcontextprotocol/conformance@0.1.16 node-$(node -p 'process.platform+"-"+process.arch')@22
// Node 22 is that folder's node-<platform>-<arch> binary, or $MCP_CONFORMANCE_NODE,
// or this very node when it is 22 or newer.
//
// The suite sends no custom headers, and mcp-tenants requires a bearer token
// on every request: a loopback-only forward proxy in this script adds
// `Authorization: Bearer <token>` and streams both directions unchanged
// (SSE included). Like any reverse proxy it presents its own loopback
// authority to the server as the server's (Host 127.0.0.1:<proxy port> ->
// 127.0.0.1:<serve port>, Origin likewise); foreign Host/Origin values (the
// DNS-rebinding scenario's evil.example.com) pass untouched.
//
// Output: a pass/fail table, bench/results/conformance-<date>.json, and a
// check that no process is left behind (exit 1 otherwise, or on any failure).
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

const SUITE_VERSION = '0.1.16';
const TENANT = 'conformance';
const SUITE_TIMEOUT_MS = 10 * 60_000;
const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'bin', 'mcp-tenants.js');
const FIXTURE = join(REPO, 'test', 'fixtures', 'conformance-server.mjs');
const HOME = process.env.MCP_CONFORMANCE_HOME ?? join(REPO, '.cache', 'conformance');

const argv = process.argv.slice(2);
const keep = argv.includes('--keep');
const verbose = argv.includes('--verbose');
const parallelAt = argv.indexOf('--parallel');
const parallel = parallelAt >= 0 ? Number(argv[parallelAt + 1]) : 1;
if (!(Number.isInteger(parallel) && parallel >= 1)) {
  console.error('conformance: --parallel takes a positive integer');
  process.exit(2);
}
const only = argv.filter(
  (arg, index) => !arg.startsWith('--') && !(parallelAt >= 0 && index === parallelAt + 1),
);

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

async function main() {
  const { node, suite } = findSuite();
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (or `npm run conformance`)');
  }
  const started = new Date();
  const work = mkdtempSync(join(tmpdir(), 'mcp-tenants-conformance-'));
  cleanups.push(async () => {
    if (keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  // One tenant on the conformance child; JSON is valid YAML.
  const manifestPath = join(work, 'tenants.yaml');
  const manifest = {
    server: { data_dir: './data' },
    auth: { secret: randomBytes(32).toString('base64url') },
    tenants: { [TENANT]: { command: process.execPath, args: [FIXTURE] } },
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

  const serve = await startServe(manifestPath, join(work, 'serve.log'));
  cleanups.push(() => serve.stop());
  const proxy = await startProxy(serve.url, token);
  cleanups.push(() => proxy.close());
  console.log(`mcp-tenants serve at ${serve.url} (pid ${serve.pid}); suite talks to ${proxy.url}`);

  const listed = listScenarios(node, suite);
  const runs =
    only.length > 0
      ? only.map((name) => ['--scenario', name])
      : [
          ['--suite', 'active'],
          ['--suite', 'pending'],
        ];
  const results = new Map();
  // Every child serve had during the run: proof that one child served it all.
  const childPids = new Set();
  const sampler = setInterval(() => {
    for (const pid of serve.descendants()) childPids.add(pid);
  }, 250);
  cleanups.push(async () => clearInterval(sampler));
  for (const selection of runs) {
    if (cleaned) throw new Error('interrupted');
    const label = selection.join(' ');
    console.log(`running ${label}${parallel > 1 ? ` x${parallel}` : ''} ...`);
    const copies = await Promise.all(
      Array.from({ length: parallel }, async (_, copy) => {
        const out = join(work, `out-${selection[1]}-${copy}`);
        const args = ['server', '--url', proxy.url, ...selection, '-o', out];
        const { code, stdout } = await runSuite(node, suite, args);
        writeFileSync(join(work, `suite-${selection[1]}-${copy}.log`), stdout);
        if (verbose) console.log(stdout);
        if (code === null && !cleaned)
          console.error(`  ${label}: killed after ${SUITE_TIMEOUT_MS} ms`);
        return out;
      }),
    );
    const suiteName = selection[0] === '--suite' ? selection[1] : 'single';
    for (const out of copies) {
      for (const result of readChecks(out, suiteName)) {
        results.set(result.scenario, merge(results.get(result.scenario), result));
      }
    }
  }

  const names = only.length > 0 ? only : listed;
  const rows = names.map((scenario) => {
    const result = results.get(scenario) ?? {
      scenario,
      suite: '?',
      status: 'FAIL',
      passed: 0,
      failed: 0,
      warnings: 0,
      failures: [],
      runs: 0,
    };
    if (result.runs === parallel) return result;
    const missing = parallel - result.runs;
    return {
      ...result,
      status: 'FAIL',
      failed: result.failed + missing,
      failures: [
        ...result.failures,
        { status: 'FAILURE', name: 'no result', message: `no checks from ${missing} run(s)` },
      ],
    };
  });
  printTable(rows);

  // Stop everything before judging leftovers.
  clearInterval(sampler);
  const before = serve.descendants();
  for (const pid of before) childPids.add(pid);
  await proxy.close();
  const { code: serveExit } = await serve.stop();
  const survivors = await waitGone([serve.pid, ...before]);
  const passed = rows.filter((row) => row.status === 'PASS').length;
  console.log(
    `\n${passed}/${rows.length} scenarios pass; ${rows.reduce((n, row) => n + row.passed, 0)} checks passed, ` +
      `${rows.reduce((n, row) => n + row.failed, 0)} failed, ${rows.reduce((n, row) => n + row.warnings, 0)} warnings`,
  );
  console.log(
    `children of serve seen: ${[...childPids].join(', ') || 'none'} (${childPids.size === 1 ? 'one shared child' : 'NOT one child'})`,
  );
  console.log(
    survivors.length === 0
      ? `serve exited (${serveExit}); no process left behind`
      : `LEFT BEHIND: ${survivors.join(', ')}`,
  );

  const report = {
    date: started.toISOString(),
    suite: `@modelcontextprotocol/conformance@${SUITE_VERSION}`,
    node: { suite: run(node, ['--version']).trim(), serve: process.version },
    fixture: 'test/fixtures/conformance-server.mjs',
    tenants: 1,
    parallel,
    selection: only.length > 0 ? only : 'all listed server scenarios (active + pending suites)',
    childPids: [...childPids],
    scenarios: rows,
    totals: {
      scenarios: rows.length,
      passed,
      failed: rows.length - passed,
      checksPassed: rows.reduce((n, row) => n + row.passed, 0),
      checksFailed: rows.reduce((n, row) => n + row.failed, 0),
      warnings: rows.reduce((n, row) => n + row.warnings, 0),
    },
    leftBehind: survivors,
  };
  const resultsDir = join(REPO, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  // A partial or parallel run does not overwrite the day's full result.
  const suffix = `${only.length > 0 ? '-partial' : ''}${parallel > 1 ? `-parallel${parallel}` : ''}`;
  const file = join(resultsDir, `conformance-${started.toISOString().slice(0, 10)}${suffix}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`results: ${file}`);
  return passed === rows.length && survivors.length === 0 ? 0 : 1;
}

/** The suite's entry point and a Node 22+ to run it, or a clear way to get them. */
function findSuite() {
  const suite = join(
    HOME,
    'node_modules',
    '@modelcontextprotocol',
    'conformance',
    'dist',
    'index.js',
  );
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
  const version = JSON.parse(readFileSync(join(suite, '..', '..', 'package.json'), 'utf8')).version;
  if (version !== SUITE_VERSION) {
    console.warn(`note: suite is ${version}; this script was written for ${SUITE_VERSION}`);
  }
  return { node, suite };
}

function listScenarios(node, suite) {
  const text = run(node, [suite, 'list', '--server']);
  return [...text.matchAll(/^\s+- (\S+)/gm)].map((match) => match[1]);
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
    failures: [...before.failures, ...result.failures],
    runs: before.runs + 1,
  };
}

/** Per scenario: the checks.json the suite wrote under `-o`, summarised. */
function readChecks(out, suiteName) {
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
        suite: suiteName,
        status: failed === 0 ? 'PASS' : 'FAIL',
        passed: count('SUCCESS'),
        failed,
        warnings: count('WARNING'),
        failures: checks
          .filter((check) => check.status === 'FAILURE' || check.status === 'WARNING')
          .map((check) => ({
            status: check.status,
            name: check.name,
            message: check.errorMessage ?? check.description,
          })),
      },
    ];
  });
}

function printTable(rows) {
  const width = Math.max(...rows.map((row) => row.scenario.length), 8);
  console.log(`\n${'scenario'.padEnd(width)}  suite    result  checks (ok/fail/warn)`);
  for (const row of rows) {
    const note = row.failures
      .map((failure) => `${failure.status === 'WARNING' ? 'warn' : 'fail'}: ${failure.message}`)
      .join(' | ');
    console.log(
      `${row.scenario.padEnd(width)}  ${row.suite.padEnd(7)}  ${row.status.padEnd(6)}  ` +
        `${row.passed}/${row.failed}/${row.warnings}${note ? `  ${note.slice(0, 160)}` : ''}`,
    );
  }
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
