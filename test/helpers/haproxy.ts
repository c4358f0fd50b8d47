import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres-server.mjs';

/**
 * A real haproxy (Debian's package) in front of a cluster's nodes on
 * 127.0.0.1: `balance roundrobin` per request (http-server-close), as in
 * examples/cluster/haproxy.cfg.
 */
export interface TestHaproxy {
  url: string;
  stop(): Promise<void>;
}

function haproxyBinary(): string | undefined {
  for (const path of ['/usr/sbin/haproxy', '/usr/bin/haproxy']) {
    try {
      execFileSync(path, ['-v'], { stdio: 'ignore' });
      return path;
    } catch {}
  }
  return undefined;
}

const binary = haproxyBinary();

/** Why haproxy tests skip here, or undefined when they run; in CI they never skip. */
export const haproxySkipReason: string | undefined = (() => {
  if (binary !== undefined) return undefined;
  if (process.env.CI) throw new Error("haproxy not found; .ci/run installs Debian's haproxy");
  const reason = "haproxy not found; install Debian's haproxy to run these tests";
  console.warn(`skipping: ${reason}`);
  return reason;
})();

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startHaproxy(backends: readonly number[]): Promise<TestHaproxy> {
  if (binary === undefined) throw new Error(haproxySkipReason);
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-haproxy-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  option http-server-close',
    'frontend mcp',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    ...backends.map((backend, i) => `  server n${i} 127.0.0.1:${backend}`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), config);
  // -db: in the foreground, so the test owns the process and its exit.
  const child: ChildProcess = spawn(binary, ['-db', '-f', join(dir, 'haproxy.cfg')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once its port accepts (it binds before it serves).
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not start:\n${stderr}`);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { url: `http://127.0.0.1:${port}/mcp`, stop };
}
