import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, isIPv6 } from 'node:net';
import { HEALTHZ_SERVER, healthzProof, PROOF_HEADER } from '../core/healthz.js';
import type { CheckResult } from './check-result.js';

/** How long the holder of a busy port has to answer `GET /healthz`, in all. */
const PROBE_MS = 1_500;
/** How long the search for the holder's pid in /proc may take. */
const PID_SEARCH_MS = 500;
/** The most of a `/healthz` answer that is read. */
const MAX_BODY_BYTES = 4_096;

/** The answer to `GET /healthz` on a busy port, or why there was none. */
type Probe =
  | { kind: 'http'; status: number; server: string | undefined; proof: string | undefined }
  | { kind: 'none'; reason: string };

/** A process listening on the port, as far as /proc shows it (Linux, own user or root). */
interface Holder {
  pid: number;
  since: Date | undefined;
  command: string;
}

/**
 * Whether `serve` can listen where the manifest says. A busy port is
 * asked who holds it (`GET /healthz?proof=<nonce>`, bounded): the
 * supervisor of this very manifest is fine (it proves it holds the
 * manifest's secret), another supervisor or any other program is not,
 * since `serve` with this manifest would not start there.
 */
export async function checkPort(host: string, port: number, secret: string): Promise<CheckResult> {
  if (port === 0) return ok('server.port is 0: a free port is picked');
  const where = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const refused = await tryListen(host, port);
  if (refused === undefined) return ok(`${where} is free`);
  if (refused !== 'EADDRINUSE') {
    return fail(`${where} is not available (${refused})`, FIX_OTHER_PORT);
  }
  const nonce = randomBytes(24).toString('base64url');
  const probe = await probeHealthz(host, port, nonce);
  const holder = findHolder(port);
  if (probe.kind === 'http' && probe.server === HEALTHZ_SERVER) {
    if (probe.proof !== undefined && sameText(probe.proof, healthzProof(secret, nonce))) {
      return ok(`${where} is held by the running supervisor of this manifest${describe(holder)}`);
    }
    return fail(
      `${where} is held by another mcp-tenants supervisor${describe(holder)}, of another manifest: it does not hold this manifest's secret`,
      'give this manifest another port (server.port, or --port on serve), or stop that supervisor first',
    );
  }
  const what =
    probe.kind === 'http'
      ? `is held by a program that is not mcp-tenants (it answered GET /healthz with ${probe.status} and no mcp-tenants server header)`
      : `is in use by something that does not answer GET /healthz (${probe.reason})`;
  return fail(
    `${where} ${what}${holder ? `: pid ${holder.pid}, ${shorten(holder.command)}` : ''}`,
    holder
      ? `${FIX_OTHER_PORT}, or stop pid ${holder.pid}`
      : `${FIX_OTHER_PORT}, or stop what holds it (\`ss -ltnp 'sport = :${port}'\` names it)`,
  );
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

const FIX_OTHER_PORT = 'pick another port: server.port in the manifest, or --port on serve';

const ok = (detail: string): CheckResult => ({ check: 'port', status: 'ok', detail });
const fail = (detail: string, fix: string): CheckResult => ({
  check: 'port',
  status: 'fail',
  detail,
  fix,
});

/** The holder's pid and start, when /proc shows the supervisor itself (not a proxy in front). */
function describe(holder: Holder | undefined): string {
  if (!holder?.command.includes('mcp-tenants')) return '';
  const since = holder.since ? `, since ${holder.since.toISOString().replace(/\.\d+Z$/, 'Z')}` : '';
  return ` (pid ${holder.pid}${since})`;
}

/** Listens as `serve` would (and stops at once): undefined when it could, else the error code. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

/**
 * `GET /healthz` on the port: at the bind address, or on loopback for a
 * wildcard one (both families: a `::` bind may hold the IPv4 port too).
 */
async function probeHealthz(host: string, port: number, nonce: string): Promise<Probe> {
  const targets =
    host === '0.0.0.0' ? ['127.0.0.1', '::1'] : host === '::' ? ['::1', '127.0.0.1'] : [host];
  const deadline = Date.now() + PROBE_MS;
  let last: Probe = { kind: 'none', reason: 'nothing answered' };
  for (const target of targets) {
    last = await getHealthz(target, port, nonce, deadline - Date.now());
    // Only a refused connection is worth another address; a silent one used the time up.
    if (last.kind === 'http' || !last.reason.startsWith('connection refused')) return last;
  }
  return last;
}

function getHealthz(host: string, port: number, nonce: string, timeoutMs: number): Promise<Probe> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (probe: Probe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outgoing.destroy();
      resolve(probe);
    };
    const outgoing = request({
      host,
      port,
      path: `/healthz?proof=${nonce}`,
      method: 'GET',
      agent: false,
      headers: {
        host: `${isIPv6(host) ? `[${host}]` : host}:${port}`,
        'user-agent': 'mcp-tenants doctor',
      },
    });
    const timer = setTimeout(
      () =>
        settle({
          kind: 'none',
          reason: `no HTTP answer to GET /healthz within ${PROBE_MS / 1000} s`,
        }),
      Math.max(timeoutMs, 1),
    );
    outgoing.on('response', (incoming) => {
      const header = (name: string): string | undefined => {
        const value = incoming.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      const answer: Probe = {
        kind: 'http',
        status: incoming.statusCode ?? 0,
        server: header('server'),
        proof: header(PROOF_HEADER),
      };
      // The headers say it all; the body is read only so the connection ends cleanly.
      let read = 0;
      incoming.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_BODY_BYTES) settle(answer);
      });
      incoming.on('end', () => settle(answer));
      incoming.on('error', () => settle(answer));
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) =>
      settle({
        kind: 'none',
        reason:
          error.code === 'ECONNREFUSED'
            ? `connection refused at ${host}`
            : `it does not speak HTTP (${error.code ?? error.message})`,
      }),
    );
    outgoing.end();
  });
}

/**
 * The process listening on a TCP port, from /proc (Linux): the socket's
 * inode in /proc/net/tcp{,6}, then the process holding it. Only processes
 * this user may inspect are found; anything else, or another system, gives
 * undefined. Bounded in time, for hosts with very many processes.
 */
function findHolder(port: number): Holder | undefined {
  try {
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        const local = fields[1];
        // State 0A is LISTEN; the port is the hex after the colon.
        if (!local || fields[3] !== '0A') continue;
        if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
        if (fields[9] && fields[9] !== '0') inodes.add(`socket:[${fields[9]}]`);
      }
    }
    if (inodes.size === 0) return undefined;
    const stopAt = Date.now() + PID_SEARCH_MS;
    for (const entry of readdirSync('/proc')) {
      if (Date.now() > stopAt) return undefined;
      if (!/^\d+$/.test(entry)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${entry}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        let target: string;
        try {
          target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        } catch {
          continue;
        }
        if (inodes.has(target)) {
          const pid = Number(entry);
          return { pid, since: startedAt(pid), command: commandOf(pid) };
        }
      }
    }
  } catch {
    // No /proc, or not the one expected: the pid stays unknown.
  }
  return undefined;
}

/** When a process started: its start in clock ticks after boot (USER_HZ, 100 on Linux). */
function startedAt(pid: number): Date | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on: starttime is field 22.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!boot || !Number.isFinite(ticks)) return undefined;
    return new Date(Number(boot[1]) * 1000 + ticks * 10);
  } catch {
    return undefined;
  }
}

/** A process's command line, its arguments joined by spaces. */
function commandOf(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.join(' ') || 'unknown program';
  } catch {
    return 'unknown program';
  }
}

/** The program and its first argument, shortened: enough to recognise it. */
function shorten(command: string): string {
  // Its command line is the holder's to choose: no control characters reach the terminal.
  const text = command
    .split(' ')
    .slice(0, 2)
    .join(' ')
    .replace(/\p{Cc}/gu, '?');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
