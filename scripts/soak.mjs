#!/usr/bin/env node
// A bounded soak of `mcp-tenants serve` on loopback: N tenants (built-in
// server) × M concurrent sessions (the official SDK client over Streamable
// HTTP), each session sending one request after another for a fixed time,
// while faults are injected at random: a tenant's child killed with SIGKILL
// (its pid from /admin/tenants), the manifest changed and reloaded with SIGHUP,
// and short-lived tokens expiring under their sessions (which reconnect).
// Meanwhile a poisoning client posts JSON nested 10 000 deep, and a
// poisoning tenant's child (test/fixtures/deep-line.mjs) prints such lines
// as notifications and answers while a GET stream is open on it.
//
//   npm run soak                                  # 3 tenants × 8 sessions, 60 s
//   node scripts/soak.mjs --tenants 4 --sessions 16 --duration 300 --seed 7
//   node scripts/soak.mjs --no-faults
//   node scripts/soak.mjs --no-poison
//   node scripts/soak.mjs --supervisor-heap-mb 48   # a leak in the supervisor ends the run
//
// At the end it prints requests sent / answered / failed by kind, the faults
// injected, and the supervisor's RSS at the start and the end; then it checks,
// and exits 1 unless both hold:
//   - every request got exactly one answer (a result or an error; none left
//     pending, none answered twice),
//   - every write the client was told succeeded (data_set) reads back
//     unchanged at the end,
//   - every poisoned message got its precise refusal, and `report` counts at
//     least every request the sessions got an answer to (telemetry kept up).
// Sends traffic to 127.0.0.1 only; stops by itself; leaves no process behind.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { descendants, isAlive } from '../bench/proc.mjs';
import { signToken } from '../dist/auth/sign.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'mcp-tenants.js');

// ---- options -----------------------------------------------------------------
function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(
      `soak: --${name} takes a positive number, got ${process.argv[index + 1]}\n`,
    );
    process.exit(2);
  }
  return value;
}
const TENANTS = option('tenants', 3);
const SESSIONS = option('sessions', 8);
const DURATION_MS = option('duration', 60) * 1000;
const FAULTS = !process.argv.includes('--no-faults');
const POISON = !process.argv.includes('--no-poison');
let seed = option('seed', Math.floor(Math.random() * 2 ** 31));
const SEED = seed;

/** mulberry32: a small seeded generator, so a run's choices can be replayed. */
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the supervisor ----------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-soak-'));
const manifestPath = join(dir, 'tenants.yaml');
const secret = randomBytes(32).toString('base64url');
const tenantIds = Array.from({ length: TENANTS }, (_, i) => `tenant-${i + 1}`);
const POISON_TENANT = 'poison';
const DEEP_LINE = join(ROOT, 'test', 'fixtures', 'deep-line.mjs');
let generation = 0;

function writeManifest() {
  // Each reload changes something real: one tenant's max_storage_mb, which its built-in
  // server enforces itself, so its child restarts when quiet, under load.
  const changed = tenantIds[generation % tenantIds.length];
  const tenants = Object.fromEntries(
    tenantIds.map((id) => [
      id,
      id === changed && generation > 0 ? { quotas: { max_storage_mb: 1024 + generation } } : {},
    ]),
  );
  // Rate quotas out of the way: the soak measures the relay, not the limits.
  const defaults = {
    quotas: { max_requests_per_minute: 1_000_000, max_concurrent_requests: 1_000 },
  };
  // The poisoning tenant: its child prints JSON nested too deep on request.
  if (POISON) tenants[POISON_TENANT] = { command: process.execPath, args: [DEEP_LINE] };
  const manifest = { server: { data_dir: './data' }, auth: { secret }, defaults, tenants };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2), { mode: 0o600 });
}
writeManifest();

// --supervisor-heap-mb caps the supervisor's V8 heap: a leak would then end the run.
const HEAP_MB = option('supervisor-heap-mb', 0);
const nodeArgs = HEAP_MB > 0 ? [`--max-old-space-size=${HEAP_MB}`] : [];
const serve = spawn(
  process.execPath,
  [...nodeArgs, CLI, 'serve', '-m', manifestPath, '--port', '0', '--no-watch'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
// Whatever goes wrong, the supervisor (and so its children) and the folder go too.
function abandon(error) {
  process.stderr.write(`soak: ${error?.stack ?? error}\n`);
  serve.kill('SIGTERM');
  setTimeout(() => {
    serve.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }, 3_000).unref();
  serve.once('exit', () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  });
}
process.on('uncaughtException', abandon);
process.on('unhandledRejection', abandon);
process.on('SIGINT', () => abandon('interrupted'));
let serveLog = '';
serve.stderr.on('data', (chunk) => {
  serveLog += chunk;
  if (serveLog.length > 1_000_000) serveLog = serveLog.slice(-500_000);
});
const url = await new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error(`serve did not start:\n${serveLog}`)), 20_000);
  serve.stdout.on('data', (chunk) => {
    out += chunk;
    const match = /http:\/\/127\.0\.0\.1:\d+\/mcp/.exec(out);
    if (match) {
      clearTimeout(timer);
      resolve(match[0]);
    }
  });
  serve.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${serveLog}`)));
});
const base = url.replace(/\/mcp$/, '');
const rss = () => {
  const status = readFileSync(`/proc/${serve.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
};

// ---- bookkeeping -------------------------------------------------------------
const KINDS = ['data_set', 'data_get', 'data_list', 'tools/list'];
const stats = Object.fromEntries(
  KINDS.map((kind) => [kind, { sent: 0, answered: 0, failed: 0, reasons: {} }]),
);
let pending = 0; // requests sent and not answered yet
let answeredTwice = 0;
const acknowledged = new Map(); // `${tenant}\u0000${key}` -> value
let wrongReads = 0;
let duplicateAnswers = 0;
const faults = { child_kills: 0, reloads: 0, token_expiries: 0, quarantine_resets: 0 };

function reasonOf(error) {
  const text = String(error?.message ?? error);
  if (/401|token expired/.test(text)) return 'token expired (401)';
  if (/-30503|stopped while handling|exited|CHILD_CRASHED/.test(text))
    return 'child killed (-30503)';
  if (/quarantined|keeps crashing/.test(text)) return 'tenant quarantined';
  if (/-30504|did not answer within/.test(text)) return 'timeout (-30504)';
  if (/404|unknown or expired session/.test(text)) return 'session gone (404)';
  if (/-30429|429/.test(text)) return 'quota (-30429)';
  return `other: ${text.slice(0, 120)}`;
}

/** Sends one request and records its one answer. */
async function measured(kind, send) {
  let settled = 0;
  const settle = () => {
    settled += 1;
    if (settled === 1) pending -= 1;
    else answeredTwice += 1;
  };
  pending += 1;
  stats[kind].sent += 1;
  try {
    const result = await send();
    settle();
    stats[kind].answered += 1;
    return result;
  } catch (error) {
    settle();
    stats[kind].failed += 1;
    const reason = reasonOf(error);
    stats[kind].reasons[reason] = (stats[kind].reasons[reason] ?? 0) + 1;
    throw error;
  }
}

async function connect(tenant, user, ttlSeconds) {
  const token = await signToken({ secret }, { tenantId: tenant, userId: user, ttlSeconds });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'mcp-tenants-soak', version: '1.0.0' });
  // An answer for an id the client is not waiting for would surface here.
  client.onerror = (error) => {
    if (/unknown message ID|Received a response for/i.test(String(error?.message))) {
      duplicateAnswers += 1;
    }
  };
  await client.connect(transport);
  return client;
}

const text = (result) => result?.content?.[0]?.text ?? '';

// ---- one session's loop ------------------------------------------------------
async function session(index, deadline) {
  const tenant = tenantIds[index % TENANTS];
  const user = `user-${index}`;
  // A quarter of the sessions hold tokens that expire during the run.
  const shortLived = index % 4 === 3;
  const ttl = () => (shortLived ? 8 + Math.floor(random() * 12) : 3_600);
  let client;
  let sentOnClient = 0;
  let written = 0;
  const mine = [];
  while (Date.now() < deadline) {
    // A new session now and then: the SDK client piles up abort listeners on
    // one transport over thousands of requests (a warning in this process).
    if (client && sentOnClient >= 1_000) {
      // Ended, not abandoned: open sessions count against max_sessions_per_user.
      await client.transport?.terminateSession?.().catch(() => {});
      await client.close().catch(() => {});
      client = undefined;
    }
    try {
      if (!client) {
        client = await connect(tenant, user, ttl());
        sentOnClient = 0;
      }
    } catch {
      await sleep(200); // the tenant may be restarting or quarantined
      continue;
    }
    sentOnClient += 1;
    const roll = random();
    try {
      if (roll < 0.45) {
        const key = `s${index}-${written++}`;
        const value = `${tenant}:${key}:${randomBytes(8).toString('hex')}`;
        const result = await measured('data_set', () =>
          client.callTool({ name: 'data_set', arguments: { key, value } }),
        );
        if (!result.isError) {
          acknowledged.set(`${tenant}\u0000${key}`, value);
          mine.push(key);
        }
      } else if (roll < 0.8 && mine.length > 0) {
        const key = pick(mine);
        const result = await measured('data_get', () =>
          client.callTool({ name: 'data_get', arguments: { key } }),
        );
        if (text(result) !== acknowledged.get(`${tenant}\u0000${key}`)) wrongReads += 1;
      } else if (roll < 0.9) {
        await measured('data_list', () =>
          client.callTool({ name: 'data_list', arguments: { prefix: `s${index}-` } }),
        );
      } else {
        await measured('tools/list', () => client.listTools());
      }
    } catch (error) {
      await sleep(20); // a child restarting: do not spin
      if (/401|token expired/.test(String(error?.message))) faults.token_expiries += 1;
      if (/401|404|token expired|unknown or expired session/.test(String(error?.message))) {
        await client.close().catch(() => {});
        client = undefined; // a new token, a new session
      }
    }
  }
  await client?.close().catch(() => {});
}

// ---- faults ------------------------------------------------------------------
async function health(operator) {
  const response = await fetch(`${base}/admin/tenants`, {
    headers: { authorization: `Bearer ${operator}` },
  });
  return response.json();
}

async function injectFaults(deadline) {
  const operator = await signToken({ secret }, { operator: true, ttlSeconds: 3_600 });
  // At most 3 kills of one tenant within a minute: 5 would quarantine it (by design).
  const kills = new Map();
  const recentKills = (id) => (kills.get(id) ?? []).filter((at) => Date.now() - at < 60_000);
  while (Date.now() < deadline - 3_000) {
    await sleep(2_000 + random() * 4_000);
    if (Date.now() >= deadline - 3_000) break;
    const status = await health(operator);
    // A tenant quarantined by the kills (5 crashes a minute) is reset, as an operator would.
    for (const tenant of status.tenants.filter((entry) => entry.state === 'quarantined')) {
      await fetch(`${base}/admin/tenants/${tenant.id}/reset`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}` },
      });
      faults.quarantine_resets += 1;
    }
    if (random() < 0.65) {
      const running = status.tenants.filter((entry) => entry.pid && entry.state === 'running');
      const victim = running.length > 0 ? pick(running) : undefined;
      if (victim && recentKills(victim.id).length < 3) {
        try {
          process.kill(victim.pid, 'SIGKILL');
          faults.child_kills += 1;
          kills.set(victim.id, [...recentKills(victim.id), Date.now()]);
        } catch {
          // Gone already (idle stop, restart).
        }
      }
    } else {
      generation += 1;
      writeManifest();
      serve.kill('SIGHUP');
      faults.reloads += 1;
    }
  }
}

// ---- poison ------------------------------------------------------------------
const poisoned = { sent: 0, refused: 0, unexpected: 0, reasons: {} };
const TOO_DEEP = /nested deeper than \d+ levels \(server\.max_json_depth\)/;
const deepJson = (depth) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** A raw POST on a session; the JSON answer. */
async function rawPost(token, session, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json',
      ...(session ? { 'mcp-session-id': session } : {}),
    },
    body,
  });
  return {
    status: response.status,
    session: response.headers.get('mcp-session-id'),
    json: await response.json(),
  };
}

async function rawSession(token) {
  const initialize = {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'poison', version: '1' },
    },
  };
  return (await rawPost(token, undefined, JSON.stringify(initialize))).session;
}

function expectRefusal(what, ok) {
  poisoned.sent += 1;
  if (ok) poisoned.refused += 1;
  else {
    poisoned.unexpected += 1;
    poisoned.reasons[what] = (poisoned.reasons[what] ?? 0) + 1;
  }
}

/**
 * A client posting 10 000-deep bodies to a working tenant, and the
 * poisoning tenant's child printing 10 000-deep notifications and answers
 * while a GET stream is open on its session. Each must be refused by name.
 */
async function poison(deadline) {
  const token = await signToken(
    { secret },
    { tenantId: tenantIds[0], userId: 'poisoner', ttlSeconds: 3_600 },
  );
  const childToken = await signToken(
    { secret },
    { tenantId: POISON_TENANT, userId: 'poisoner', ttlSeconds: 3_600 },
  );
  const session = await rawSession(token);
  const childSession = await rawSession(childToken);
  const stream = new AbortController();
  const open = await fetch(url, {
    headers: {
      authorization: `Bearer ${childToken}`,
      'mcp-session-id': childSession,
      accept: 'text/event-stream',
    },
    signal: stream.signal,
  });
  // Read and thrown away: what matters is that the supervisor writes to it.
  void open.body?.pipeTo(new WritableStream()).catch(() => {});
  let id = 0;
  while (Date.now() < deadline - 1_000) {
    await sleep(100 + random() * 300);
    id += 1;
    try {
      const roll = random();
      if (roll < 0.5) {
        const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"data_set","arguments":${deepJson(10_000)}}}`;
        const answer = await rawPost(token, session, body);
        expectRefusal(
          'deep body',
          answer.status === 400 &&
            answer.json?.id === id &&
            TOO_DEEP.test(answer.json?.error?.message),
        );
      } else {
        const name = roll < 0.75 ? 'deep_log' : 'deep_result';
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id,
          method: 'tools/call',
          params: { name, arguments: {} },
        });
        const answer = await rawPost(childToken, childSession, body);
        expectRefusal(
          name,
          name === 'deep_log'
            ? answer.json?.result?.content?.[0]?.text === 'logged'
            : TOO_DEEP.test(answer.json?.error?.message ?? ''),
        );
      }
    } catch (error) {
      expectRefusal(`failed: ${String(error?.message ?? error).slice(0, 80)}`, false);
    }
  }
  stream.abort();
}

/** `report` after the run: requests per tenant as the database holds them. */
function reportedRequests() {
  const run = spawnSync(
    process.execPath,
    [
      CLI,
      'report',
      '-m',
      manifestPath,
      '--since',
      new Date(started - 60_000).toISOString(),
      '--format',
      'json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.status !== 0) return -1;
  return JSON.parse(run.stdout).tenants.reduce((sum, tenant) => sum + tenant.requests, 0);
}

// ---- the run -----------------------------------------------------------------
process.stdout.write(
  `soak (pid ${process.pid}, supervisor pid ${serve.pid}): ${TENANTS} tenants × ${SESSIONS} sessions for ${DURATION_MS / 1000} s, faults ${FAULTS ? 'on' : 'off'}, seed ${SEED}\n`,
);
// Warm every tenant first, so the starting RSS includes what a running supervisor holds.
for (const tenant of tenantIds) {
  const client = await connect(tenant, 'warm-up', 600);
  await client.listTools();
  await client.close();
}
const rssStart = rss();
const started = Date.now();
const deadline = started + DURATION_MS;
// The supervisor's RSS every tenth of the run, to tell growth from a plateau.
const rssTimeline = [];
const sampler = setInterval(() => rssTimeline.push(rss()), DURATION_MS / 10);
await Promise.all([
  ...Array.from({ length: TENANTS * SESSIONS }, (_, index) => session(index, deadline)),
  FAULTS ? injectFaults(deadline) : Promise.resolve(),
  POISON ? poison(deadline) : Promise.resolve(),
]);
const elapsed = (Date.now() - started) / 1000;
clearInterval(sampler);
const rssEnd = rss();

// Every acknowledged write must read back, through fresh sessions after the faults.
let unreadable = 0;
const readers = new Map();
for (const [id, value] of acknowledged) {
  const [tenant, key] = id.split('\u0000');
  let reader = readers.get(tenant);
  if (!reader) {
    await fetch(`${base}/admin/tenants/${tenant}/reset`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await signToken({ secret }, { operator: true, ttlSeconds: 600 })}`,
      },
    });
    reader = await connect(tenant, 'verifier', 3_600);
    readers.set(tenant, reader);
  }
  const result = await reader
    .callTool({ name: 'data_get', arguments: { key } })
    .catch((error) => ({ content: [{ text: String(error) }] }));
  if (text(result) !== value) {
    unreadable += 1;
    if (unreadable <= 5) process.stderr.write(`soak: ${key} of ${tenant} reads ${text(result)}\n`);
  }
}
for (const reader of readers.values()) await reader.close();

// ---- stop and report ---------------------------------------------------------
const before = descendants(serve.pid);
serve.kill('SIGTERM');
const code = await new Promise((resolve) => serve.once('exit', (exit) => resolve(exit)));
// Children exit on their stdin's end, just after the supervisor: give them up to 5 s.
const exitDeadline = Date.now() + 5_000;
while (before.some(isAlive) && Date.now() < exitDeadline) await sleep(50);
const survivors = before.filter(isAlive);
const reported = reportedRequests();
rmSync(dir, { recursive: true, force: true });

const twice = answeredTwice + duplicateAnswers;
const total = (field) => KINDS.reduce((sum, kind) => sum + stats[kind][field], 0);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const pad = (value, width) => String(value).padStart(width);

const lines = [
  '',
  `kind          sent  answered  failed   failures by reason`,
  ...KINDS.map((kind) => {
    const { sent, answered, failed, reasons } = stats[kind];
    const why = Object.entries(reasons)
      .map(([reason, count]) => `${reason}: ${count}`)
      .join(', ');
    return `${kind.padEnd(11)} ${pad(sent, 6)} ${pad(answered, 9)} ${pad(failed, 7)}   ${why}`;
  }),
  `${'total'.padEnd(11)} ${pad(total('sent'), 6)} ${pad(total('answered'), 9)} ${pad(total('failed'), 7)}   (${(total('sent') / elapsed).toFixed(0)} requests/s)`,
  '',
  `faults: ${faults.child_kills} child kills, ${faults.reloads} reloads (SIGHUP), ${faults.token_expiries} token expiries, ${faults.quarantine_resets} quarantine resets`,
  `supervisor RSS: ${mb(rssStart)} at the start, ${mb(rssEnd)} at the end, peak ${mb(Math.max(rssEnd, ...rssTimeline))}`,
  `  every ${DURATION_MS / 10_000} s: ${rssTimeline.map((bytes) => (bytes / 1024 / 1024).toFixed(0)).join(' ')} MB`,
  `acknowledged writes: ${acknowledged.size}, read back unchanged: ${acknowledged.size - unreadable}; wrong reads during the run: ${wrongReads}`,
  `requests without an answer: ${pending}, answered twice: ${twice}`,
  `poison: ${poisoned.sent} poisoned messages, ${poisoned.refused} refused by name, ${poisoned.unexpected} not${poisoned.unexpected > 0 ? ` (${JSON.stringify(poisoned.reasons)})` : ''}`,
  `report: ${reported} requests recorded, ${total('answered')} answered to the sessions`,
  `serve exited ${code}; processes left behind: ${survivors.length}`,
  '',
];
process.stdout.write(lines.join('\n'));
const ok =
  pending === 0 &&
  twice === 0 &&
  unreadable === 0 &&
  wrongReads === 0 &&
  survivors.length === 0 &&
  poisoned.unexpected === 0 &&
  reported >= total('answered') &&
  total('sent') === total('answered') + total('failed');
process.stdout.write(ok ? 'soak: ok\n' : 'soak: FAILED\n');
if (!ok) process.stderr.write(serveLog.split('\n').slice(-40).join('\n'));
process.exit(ok ? 0 : 1);
