import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../src/auth/sign.js';
import { descendants, waitGone } from './processes.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'bin', 'mcp-tenants.js');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

/** Runs the CLI to completion with a bare environment (PATH, plus `env`). */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface TenantSpec {
  command?: string;
  args?: string[];
  request_timeout_ms?: number;
  quotas?: Record<string, number>;
  isolation?: 'tenant' | 'session';
  max_sessions?: number;
  idle_timeout_ms?: number;
  eager?: boolean;
  start_timeout_ms?: number;
  limits?: Record<string, number>;
  /** Any other tenant key of the manifest. */
  [key: string]: unknown;
}

/** A temp folder with a manifest in it; `cleanup()` removes it all. */
export interface TestWorkspace {
  dir: string;
  manifestPath: string;
  secret: string;
  token(tenant: string, user?: string, ttlSeconds?: number): Promise<string>;
  operatorToken(): Promise<string>;
  /** Replaces the manifest's tenants (same secret), as an operator editing the file would. */
  rewrite(tenants: Record<string, TenantSpec>): void;
  cleanup(): void;
}

export function createWorkspace(
  tenants: Record<string, TenantSpec>,
  server: Record<string, unknown> = {},
  /** More of the manifest's `auth` section, besides its secret. */
  authExtra: Record<string, unknown> = {},
): TestWorkspace {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-test-'));
  const secret = randomBytes(32).toString('base64url');
  const manifestPath = join(dir, 'tenants.yaml');
  const write = (current: Record<string, TenantSpec>): void => {
    const manifest = {
      server: { data_dir: './data', ...server },
      auth: { secret, ...authExtra },
      tenants: current,
    };
    // JSON is valid YAML, and keeps the helper free of formatting concerns.
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2), { mode: 0o600 });
  };
  write(tenants);
  // Tokens carry the audience the supervisor asks for: the manifest's.
  const audience = authExtra.audience;
  const auth = {
    secret,
    ...(typeof authExtra.issuer === 'string' && { issuer: authExtra.issuer }),
    ...(audience !== undefined && { audience: [audience].flat() as string[] }),
  };
  return {
    dir,
    manifestPath,
    secret,
    token: (tenant, user = 'alice', ttlSeconds = 600) =>
      signToken(auth, { tenantId: tenant, userId: user, ttlSeconds }),
    operatorToken: () => signToken(auth, { operator: true, ttlSeconds: 600 }),
    rewrite: write,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * `GET /admin/tenants` with an operator token: each tenant's state, pid and
 * limits, the open sessions and the host's limit layers (/healthz says none of it).
 */
export async function adminStatus<T = AdminStatus>(
  url: string,
  workspace: TestWorkspace,
): Promise<T> {
  const response = await fetch(url.replace(/\/mcp$/, '/admin/tenants'), {
    headers: { authorization: `Bearer ${await workspace.operatorToken()}` },
  });
  if (response.status !== 200) throw new Error(`/admin/tenants answered ${response.status}`);
  return (await response.json()) as T;
}

export interface AdminStatus {
  tenants: { id: string; state: string; pid: number | null }[];
  sessions: number;
}

export function fixture(name: string): TenantSpec {
  return { command: process.execPath, args: [join(FIXTURES, name)] };
}

export interface ServeProcess {
  url: string;
  process: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Live descendants of the supervisor (its children and theirs). */
  childPids(): number[];
  /** SIGTERM, then waits; asserts nothing is left behind by returning survivors. */
  stop(): Promise<{ code: number | null; survivors: number[] }>;
}

/** Runs `mcp-tenants serve --port 0` and waits for the line with its URL. */
export async function startServe(
  manifestPath: string,
  extraArgs: string[] = [],
  /** A command that execs the supervisor, e.g. `setpriv` to give it other credentials. */
  launcher: string[] = [],
): Promise<ServeProcess> {
  const argv = [process.execPath, CLI, 'serve', '-m', manifestPath, '--port', '0', ...extraArgs];
  const [command, ...args] = [...launcher, ...argv] as [string, ...string[]];
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: withoutManifestEnv(),
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Nobody gets a handle to stop it with: stop it here (its children exit with it).
      child.kill('SIGKILL');
      reject(new Error(`serve did not start:\n${stderr}`));
    }, 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /http:\/\/(127\.0\.0\.1|\[::1\]):\d+\/mcp/.exec(stdout);
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
  const pid = child.pid as number;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
  return {
    url,
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    childPids: () => descendants(pid),
    async stop() {
      const before = descendants(pid);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      // A fault that escaped every guard is a bug, whatever the test was about.
      const escaped = /"msg":"(uncaught exception|unhandled rejection)[^"]*"[^\n]*/.exec(stderr);
      if (escaped) throw new Error(`the supervisor logged ${escaped[0]}`);
      return { code, survivors: await waitGone(before) };
    },
  };
}

function withoutManifestEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MCP_TENANTS_MANIFEST;
  return env;
}
