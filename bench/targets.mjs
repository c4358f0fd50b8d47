// Start and stop each benchmark target; every target is started fresh for each round.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { BENCH_MODULES } from './ensure-deps.mjs';
import { HttpEndpoint, HttpSession } from './load-http.mjs';
import { StdioConnection } from './load-stdio.mjs';
import { descendants, isAlive } from './proc.mjs';

export const REPO = fileURLToPath(new URL('../', import.meta.url));
export const CLI = join(REPO, 'bin', 'mcp-tenants.js');
export const ECHO = join(REPO, 'test', 'fixtures', 'echo-server.mjs');
const NODE = process.execPath;
const FLOOR = join(REPO, 'bench', 'floor-relay.mjs');
const LEAN = join(REPO, 'bench', 'serve-lean.mjs');
// The anchor proxies come from bench/package.json (npm --prefix bench ci), not the root install.
const SUPERGATEWAY = join(BENCH_MODULES, 'supergateway', 'dist', 'index.js');
const MCP_PROXY = join(BENCH_MODULES, 'mcp-proxy', 'dist', 'bin', 'mcp-proxy.mjs');

/** Tenants of the mcp-tenants manifest that carry load (all on the echo fixture). */
export const LOAD_TENANTS = ['t0', 't1', 't2', 't3'];
/** Fresh tenants for the cold-start phase: built-in children and echo children. */
export const COLD_BUILTIN = ['cb0', 'cb1', 'cb2', 'cb3', 'cb4'];
/** The noisy-neighbour phase's tenants: [noisy, quiet], each child capped at one core. */
export const NOISY_TENANTS = ['n0', 'n1'];
export const COLD_ECHO = ['ce0', 'ce1', 'ce2', 'ce3', 'ce4'];

// Quotas far above what the benchmark sends, so a limit never shapes a figure.
// The session phase opens 1 000 sessions of one user: past the default session caps.
const BENCH_QUOTAS = {
  max_requests_per_minute: 100_000_000,
  max_concurrent_requests: 100_000,
  max_sessions_per_user: 10_000,
  max_sessions_per_tenant: 10_000,
};

/** Every process this module started and has not yet seen exit. */
const started = new Set();
/** Temp folders not yet removed (removed at exit, Ctrl-C included). */
const workspaces = new Set();

export function removeWorkspaces() {
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
  workspaces.clear();
}

/** Pids of everything we started, plus their descendants (for Ctrl-C and the final check). */
export function ownedPids() {
  const all = new Set();
  for (const pid of started) {
    if (!isAlive(pid)) {
      started.delete(pid);
      continue;
    }
    all.add(pid);
    for (const child of descendants(pid)) all.add(child);
  }
  return [...all];
}

/**
 * A workspace with an mcp-tenants manifest and a token per tenant. `server`
 * and `cluster` add manifest keys (a store, workers); `loadOnly` keeps the
 * load tenants alone (no cold-start tenants).
 */
export function mcpTenantsWorkspace({ server = {}, cluster, loadOnly = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-bench-'));
  workspaces.add(dir);
  const secret = randomBytes(32).toString('base64url');
  const echo = { command: NODE, args: [ECHO], request_timeout_ms: 30_000, quotas: BENCH_QUOTAS };
  const tenants = {};
  for (const id of loadOnly ? LOAD_TENANTS : [...LOAD_TENANTS, ...COLD_ECHO]) {
    tenants[id] = { ...echo };
  }
  if (!loadOnly) for (const id of COLD_BUILTIN) tenants[id] = { quotas: BENCH_QUOTAS };
  if (!loadOnly) for (const id of NOISY_TENANTS) tenants[id] = { ...echo, limits: { cpu: 1 } };
  const writeManifest = (name, dataDir) => {
    const manifest = {
      server: { data_dir: dataDir, ...server },
      ...(cluster ? { cluster } : {}),
      auth: { secret },
      tenants,
    };
    const path = join(dir, name);
    // JSON is valid YAML.
    writeFileSync(path, JSON.stringify(manifest, null, 2), { mode: 0o600 });
    return path;
  };
  const manifestPath = writeManifest('tenants.yaml', join(dir, 'data'));
  const key = new TextEncoder().encode(secret);
  const tokens = new Map();
  return {
    dir,
    manifestPath,
    /** The manifest of another node of a cluster: the same in all but its own data_dir. */
    nodeManifest: (index) => writeManifest(`tenants-${index}.yaml`, join(dir, `data-${index}`)),
    async token(tenant) {
      if (!tokens.has(tenant)) {
        const now = Math.floor(Date.now() / 1000);
        const jwt = await new SignJWT({
          tenant_id: tenant,
          user_id: 'bench',
          permissions: ['tools:*', 'resources:*', 'prompts:*'],
        })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuedAt(now)
          .setExpirationTime(now + 3600)
          .sign(key);
        tokens.set(tenant, jwt);
      }
      return tokens.get(tenant);
    },
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      workspaces.delete(dir);
    },
  };
}

/** Spawns a service and waits until `ready()` resolves true (or its stdout shows a URL). */
export async function startService(
  command,
  args,
  { env = process.env, cwd = REPO, urlPattern, probe },
) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd });
  started.add(child.pid);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-4000);
  };
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // The start of stdout, where services print their banner (URL, node ids).
  let stdout = '';
  const url = await new Promise((resolve, reject) => {
    // A service that did not come up in time is of no use: it goes, so it cannot linger.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not start:\n${output}`));
    }, 20_000);
    const done = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    child.stdout.on('data', (chunk) => {
      keep(chunk);
      if (stdout.length < 16_384) stdout += chunk;
      if (!urlPattern) return;
      const match = urlPattern.exec(stdout);
      if (match) done(match[0]);
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}):\n${output}`));
    });
    if (probe) {
      const poll = async () => {
        while (child.exitCode === null) {
          if (await probe()) return done(probe.url);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    }
  });
  return {
    pid: child.pid,
    url,
    output: () => output,
    stdout: () => stdout,
    async stop() {
      const tree = [child.pid, ...descendants(child.pid)];
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
      await exited;
      clearTimeout(timer);
      started.delete(child.pid);
      return killSurvivors(tree);
    },
  };
}

/** SIGKILLs whatever of `pids` is still alive after a short wait; returns how many were left. */
export async function killSurvivors(pids, waitMs = 3_000) {
  const deadline = Date.now() + waitMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    alive = alive.filter(isAlive);
  }
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return alive.length;
}

/** A port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A probe that is true once something answers HTTP on `url`. */
function httpProbe(url) {
  const probe = async () => {
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(500) });
      return true;
    } catch {
      return false;
    }
  };
  probe.url = url;
  return probe;
}

/** Wraps an HTTP service into the handle every phase uses. */
function httpHandle(service, { tokenFor, maxTenants, sessionCap, extraStop }) {
  const endpoints = new Map();
  const endpointFor = async (tenantIndex) => {
    if (!endpoints.has(tenantIndex)) {
      const token = tokenFor ? await tokenFor(LOAD_TENANTS[tenantIndex]) : undefined;
      endpoints.set(tenantIndex, new HttpEndpoint(service.url, { token, maxSockets: 64 }));
    }
    return endpoints.get(tenantIndex);
  };
  return {
    kind: 'http',
    url: service.url,
    maxTenants,
    sessionCap,
    /** The relay process itself (RSS per session). */
    mainPid: service.pid,
    /** Relay plus its children (CPU, peak RSS). */
    roots: () => [service.pid],
    async openSession(tenantIndex = 0) {
      return new HttpSession(await endpointFor(tenantIndex)).open();
    },
    /** A session on any tenant of the manifest, by id (mcp-tenants only). */
    async openTenantSession(tenantId) {
      const endpoint = new HttpEndpoint(service.url, {
        token: await tokenFor(tenantId),
        maxSockets: 4,
      });
      const session = await new HttpSession(endpoint).open();
      return { session, endpoint };
    },
    async stop() {
      for (const endpoint of endpoints.values()) endpoint.close();
      const survivors = await service.stop();
      extraStop?.();
      return survivors;
    },
  };
}

/** Wraps lazily spawned stdio connections (one per tenant) into the common handle. */
function stdioHandle(spawnConnection, { maxTenants, extraStop }) {
  const connections = new Map(); // tenant index -> { connection, ready }
  const connectionFor = (tenantIndex) => {
    if (!connections.has(tenantIndex)) {
      const connection = spawnConnection(tenantIndex);
      started.add(connection.pid);
      connections.set(tenantIndex, { connection, ready: connection.initialize() });
    }
    const entry = connections.get(tenantIndex);
    return entry.ready.then(() => entry.connection);
  };
  return {
    kind: 'stdio',
    maxTenants,
    mainPid: undefined,
    roots: () => [...connections.values()].map((entry) => entry.connection.pid),
    async openSession(tenantIndex = 0) {
      const connection = await connectionFor(tenantIndex);
      // Over stdio a "session" is one more caller on the shared connection.
      return { echo: () => connection.echo(), close: async () => {} };
    },
    async stop() {
      let survivors = 0;
      for (const { connection } of connections.values()) {
        const tree = [connection.pid, ...descendants(connection.pid)];
        await connection.close();
        started.delete(connection.pid);
        survivors += await killSurvivors(tree);
      }
      extraStop?.();
      return survivors;
    },
  };
}

/** The benchmark targets, in their default order. */
export const TARGETS = {
  direct: {
    label: 'direct',
    note: 'client ↔ echo child over stdio, no relay; 4 tenants = 4 children',
    async start() {
      const handle = stdioHandle(() => new StdioConnection(NODE, [ECHO]), { maxTenants: 4 });
      await handle.openSession(0);
      return handle;
    },
    /** Spawn → initialize answered. */
    async coldStart() {
      const t0 = process.hrtime.bigint();
      const connection = new StdioConnection(NODE, [ECHO]);
      started.add(connection.pid);
      await connection.initialize();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      await connection.close();
      started.delete(connection.pid);
      return ms;
    },
  },
  floor: {
    label: 'floor',
    note: `bench/floor-relay.mjs on node:http, one shared child`,
    async start({ nodeArgs = [] } = {}) {
      const service = await startService(NODE, [...nodeArgs, FLOOR, NODE, ECHO], {
        urlPattern: /http:\/\/\S+\/mcp/,
      });
      return httpHandle(service, { maxTenants: 1 });
    },
  },
  'mt-http': {
    label: 'mcp-tenants http',
    note: 'serve --port 0; JWT auth on every request; 4 tenants on the echo child',
    async start({ nodeArgs = [] } = {}) {
      const workspace = mcpTenantsWorkspace();
      const service = await startService(
        NODE,
        [...nodeArgs, CLI, 'serve', '-m', workspace.manifestPath, '--port', '0'],
        { urlPattern: /http:\/\/127\.0\.0\.1:\d+\/mcp/, env: withoutManifestEnv() },
      );
      const handle = httpHandle(service, {
        tokenFor: (tenant) => workspace.token(tenant),
        maxTenants: 4,
        extraStop: () => workspace.cleanup(),
      });
      handle.workspace = workspace;
      return handle;
    },
  },
  'mt-lean': {
    label: 'mcp-tenants http, stages off',
    note: 'bench/serve-lean.mjs: serve without telemetry, audit, permission and quota stages (latency and 1-tenant load only)',
    pathOnly: true,
    async start({ nodeArgs = [] } = {}) {
      const workspace = mcpTenantsWorkspace();
      const service = await startService(NODE, [...nodeArgs, LEAN, workspace.manifestPath], {
        urlPattern: /http:\/\/127\.0\.0\.1:\d+\/mcp/,
        env: withoutManifestEnv(),
      });
      return httpHandle(service, {
        tokenFor: (tenant) => workspace.token(tenant),
        maxTenants: 1,
        extraStop: () => workspace.cleanup(),
      });
    },
  },
  'mt-stdio': {
    label: 'mcp-tenants stdio',
    note: 'serve --stdio; one supervisor per connection; 4 tenants = 4 supervisors',
    async start() {
      const workspace = mcpTenantsWorkspace();
      const tokens = await Promise.all(LOAD_TENANTS.map((t) => workspace.token(t)));
      const spawnOne = (i) =>
        new StdioConnection(NODE, [CLI, 'serve', '--stdio', '-m', workspace.manifestPath], {
          env: { ...withoutManifestEnv(), MCP_TENANT_TOKEN: tokens[i] },
          cwd: REPO,
        });
      const handle = stdioHandle(spawnOne, { maxTenants: 4, extraStop: () => workspace.cleanup() });
      await handle.openSession(0);
      return handle;
    },
    /**
     * Spawn the supervisor → initialize answered (its child starts on that
     * first use): what a desktop host waits for, with a built-in tenant.
     */
    async coldStart() {
      const workspace = mcpTenantsWorkspace();
      const token = await workspace.token(COLD_BUILTIN[0]);
      const t0 = process.hrtime.bigint();
      const connection = new StdioConnection(
        NODE,
        [CLI, 'serve', '--stdio', '-m', workspace.manifestPath],
        {
          env: { ...withoutManifestEnv(), MCP_TENANT_TOKEN: token },
          cwd: REPO,
        },
      );
      started.add(connection.pid);
      await connection.initialize();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const tree = [connection.pid, ...descendants(connection.pid)];
      await connection.close();
      started.delete(connection.pid);
      await killSurvivors(tree);
      workspace.cleanup();
      return ms;
    },
  },
  supergateway: {
    label: 'supergateway',
    note: 'supergateway 4.0.0 --stateful (a child per session), capped at 16 sessions, logs off',
    async start() {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/mcp`;
      const service = await startService(
        NODE,
        [
          SUPERGATEWAY,
          '--stdio',
          `${NODE} ${ECHO}`,
          '--outputTransport',
          'streamableHttp',
          '--stateful',
          '--port',
          String(port),
          '--logLevel',
          'none',
        ],
        { probe: httpProbe(url) },
      );
      return httpHandle(service, { maxTenants: 1, sessionCap: 16 });
    },
  },
  'mcp-proxy': {
    label: 'mcp-proxy',
    note: 'mcp-proxy 6.7.19 --server stream, one shared child',
    async start() {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/mcp`;
      const service = await startService(
        NODE,
        [
          MCP_PROXY,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--server',
          'stream',
          '--',
          NODE,
          ECHO,
        ],
        { probe: httpProbe(url) },
      );
      return httpHandle(service, { maxTenants: 1 });
    },
  },
};

/** The environment without the variables that would point `serve` elsewhere. */
export function withoutManifestEnv() {
  const env = { ...process.env };
  delete env.MCP_TENANTS_MANIFEST;
  delete env.MCP_TENANT_TOKEN;
  return env;
}
