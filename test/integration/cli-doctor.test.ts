import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/postgres-server.mjs';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** Runs doctor without blocking this process: a server of the test may have to answer it. */
function doctor(manifest: string, ...extra: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, 'doctor', '-m', manifest, ...extra], {
      env: { PATH: process.env.PATH ?? '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The port line of doctor's output, and the fix below it when there is one. */
function portLines(stdout: string): string {
  const match = /^\w+ +port +.*(\n +fix: .*)?/m.exec(stdout);
  return match?.[0] ?? '';
}

/** Listens on a free port of 127.0.0.1; resolves with it. */
function listenOnLoopback(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
}

/** Started within the last minute, as doctor's "since" says it. */
function expectRecent(line: string): void {
  const since = /since (\S+?)\)/.exec(line)?.[1];
  expect(since).toBeDefined();
  expect(Math.abs(Date.now() - Date.parse(since ?? ''))).toBeLessThan(60_000);
}

const hasIpv6Loopback = Object.values(networkInterfaces()).some((addresses) =>
  addresses?.some((address) => address.family === 'IPv6' && address.address === '::1'),
);

interface Finding {
  check: string;
  status: string;
  detail: string;
  fix?: string;
}

describe('mcp-tenants doctor', () => {
  let workspace: TestWorkspace | undefined;
  let blocker: Server | undefined;
  let serve: ServeProcess | undefined;
  let other: TestWorkspace | undefined;
  let foreign: ReturnType<typeof createHttpServer> | undefined;

  afterEach(async () => {
    await serve?.stop();
    serve = undefined;
    foreign?.closeAllConnections();
    await new Promise<void>((resolve) => (foreign ? foreign.close(() => resolve()) : resolve()));
    foreign = undefined;
    workspace?.cleanup();
    workspace = undefined;
    other?.cleanup();
    other = undefined;
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('passes a good manifest and names the limit layers and how each limit is held', async () => {
    workspace = createWorkspace(
      { acme: { limits: { memory_mb: 128, pids: 16 } }, echo: fixture('echo-server.mjs') },
      { port: 0 },
    );
    const { code, stdout } = await doctor(workspace.manifestPath);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok +manifest .*2 tenant/m);
    expect(stdout).toMatch(/^ok +command echo .*→/m);
    expect(stdout).toMatch(/^(ok|warn) +host-limits +active: .*watchdog/m);
    expect(stdout).toMatch(/^ok +limits acme +memory_mb 128 by .*, pids 16 by /m);
  });

  it('fails a missing command and a busy port, each with its fix, as JSON too', async () => {
    // Accepts and never answers; reads the socket only so a closed one ends.
    blocker = createServer((socket) => socket.resume());
    const port = await new Promise<number>((resolve) =>
      blocker?.listen(0, '127.0.0.1', () => {
        const address = blocker?.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      }),
    );
    workspace = createWorkspace({ gone: { command: 'no-such-mcp-server' } }, { port });
    const { code, stdout, stderr } = await doctor(workspace.manifestPath, '--json');
    expect(code).toBe(1);
    expect(stderr).toMatch(/2 check\(s\) failed/);
    const findings = JSON.parse(stdout) as Finding[];
    const failed = findings.filter((finding) => finding.status === 'fail');
    expect(failed.map((finding) => finding.check)).toEqual(['command gone', 'port']);
    for (const finding of failed) expect(finding.fix).toBeTruthy();
    // A holder that accepts and never answers costs a bounded wait, not a hang.
    expect(failed[1]?.detail).toMatch(/is in use by something that does not answer GET \/healthz/);
  });

  const linux = process.platform === 'linux';

  it('passes a free port, and the port the running supervisor of this very manifest holds, naming it', async () => {
    const port = await freePort();
    workspace = createWorkspace({ acme: {} }, { port });
    const free = await doctor(workspace.manifestPath);
    expect(free.code).toBe(0);
    expect(portLines(free.stdout)).toMatch(
      new RegExp(`^ok +port +127\\.0\\.0\\.1:${port} is free$`),
    );

    serve = await startServe(workspace.manifestPath, ['--port', String(port)]);
    expect(serve.url).toBe(`http://127.0.0.1:${port}/mcp`);
    const held = await doctor(workspace.manifestPath);
    expect(held.code).toBe(0);
    const line = portLines(held.stdout);
    expect(line).toMatch(
      new RegExp(
        `^ok +port +127\\.0\\.0\\.1:${port} is held by the running supervisor of this manifest${
          linux ? ` \\(pid ${serve.process.pid}, since .+\\)` : ''
        }$`,
      ),
    );
    if (linux) expectRecent(line);

    // Another manifest (another secret) on the same port: its serve would not start.
    other = createWorkspace({ acme: {} }, { port });
    const clash = await doctor(other.manifestPath, '--json');
    expect(clash.code).toBe(1);
    const finding = (JSON.parse(clash.stdout) as Finding[]).find((one) => one.check === 'port');
    expect(finding?.status).toBe('fail');
    expect(finding?.detail).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:${port} is held by another mcp-tenants supervisor${linux ? ` \\(pid ${serve.process.pid}[^)]*\\)` : ''}, of another manifest: it does not hold this manifest's secret$`,
      ),
    );
    expect(finding?.fix).toMatch(/another port \(server\.port, or --port on serve\)/);

    await serve.stop();
    serve = undefined;
    const after = await doctor(workspace.manifestPath);
    expect(portLines(after.stdout)).toMatch(/^ok +port +.* is free$/);
  });

  it('fails the port another HTTP server holds, even one whose /healthz says ok', async () => {
    foreign = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"status":"ok"}');
    });
    const port = await listenOnLoopback(foreign);
    workspace = createWorkspace({ acme: {} }, { port });
    const { code, stdout, stderr } = await doctor(workspace.manifestPath);
    expect(code).toBe(1);
    expect(stderr).toMatch(/1 check\(s\) failed/);
    const lines = portLines(stdout);
    expect(lines).toMatch(
      new RegExp(
        `^fail +port +127\\.0\\.0\\.1:${port} is held by a program that is not mcp-tenants \\(it answered GET /healthz with 200[^)]*\\)${linux ? `: pid ${process.pid}, ` : ''}`,
      ),
    );
    expect(lines).toMatch(
      /fix: pick another port: server\.port in the manifest, or --port on serve/,
    );
  });

  it('fails an impostor that names itself mcp-tenants but cannot prove the secret', async () => {
    foreign = createHttpServer((_request, response) => {
      response.writeHead(200, { server: 'mcp-tenants', 'mcp-tenants-proof': 'forged' });
      response.end('{"status":"ok"}');
    });
    const port = await listenOnLoopback(foreign);
    workspace = createWorkspace({ acme: {} }, { port });
    const { code, stdout } = await doctor(workspace.manifestPath);
    expect(code).toBe(1);
    expect(portLines(stdout)).toMatch(
      /^fail +port .* is held by another mcp-tenants supervisor.*does not hold this manifest's secret/,
    );
  });

  it.skipIf(!hasIpv6Loopback)('recognises its supervisor on an IPv6 bind', async () => {
    const port = await freePort('::1');
    workspace = createWorkspace({ acme: {} }, { host: '::1', port });
    serve = await startServe(workspace.manifestPath, ['--port', String(port)]);
    const { code, stdout } = await doctor(workspace.manifestPath);
    expect(code).toBe(0);
    const line = portLines(stdout);
    expect(line).toMatch(
      new RegExp(
        `^ok +port +\\[::1\\]:${port} is held by the running supervisor of this manifest${linux ? ` \\(pid ${serve.process.pid}` : ''}`,
      ),
    );
    other = createWorkspace({ acme: {} }, { host: '::1', port });
    const clash = await doctor(other.manifestPath);
    expect(clash.code).toBe(1);
    expect(portLines(clash.stdout)).toMatch(
      /^fail +port .* is held by another mcp-tenants supervisor/,
    );
  });

  it('reports a broken manifest with its line, and stops there', async () => {
    workspace = createWorkspace({});
    workspace.rewrite({ 'Bad Id': {} });
    const { code, stdout } = await doctor(workspace.manifestPath);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^fail +manifest .*invalid tenant id/m);
    expect(stdout).not.toMatch(/host-limits/);
  });
});
