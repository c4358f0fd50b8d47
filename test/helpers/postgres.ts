import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A real PostgreSQL server for a test file: `initdb` and `pg_ctl` into a
 * temporary folder, on a free loopback port, password-authenticated (so a
 * tenant's role really cannot log in as another), fsync off. As root it runs
 * as the `postgres` user (or `nobody`), since the server refuses root.
 */
export interface TestPostgres {
  /** A superuser's URL, for the store (it creates the tenants' roles). */
  url: string;
  port: number;
  /** A fresh, empty database on this server; its superuser URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

/** Debian's server binaries, or those on PATH; undefined when absent. */
export function postgresBinDir(): string | undefined {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((version) => existsSync(join(debian, version, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(debian, versions[0], 'bin');
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const binDir = postgresBinDir();

/**
 * Why PostgreSQL tests skip here, or undefined when they run. In CI they
 * never skip: `.ci/run` installs Debian's postgresql, and its absence fails.
 */
export const postgresSkipReason: string | undefined = (() => {
  if (binDir !== undefined) return undefined;
  if (process.env.CI) {
    throw new Error("PostgreSQL server binaries not found; .ci/run installs Debian's postgresql");
  }
  const reason =
    "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql to run these tests";
  console.warn(`skipping: ${reason}`);
  return reason;
})();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function unixUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid, name };
    } catch {}
  }
  throw new Error(
    'running as root, but neither a postgres nor a nobody user exists to run PostgreSQL',
  );
}

export async function startPostgres(): Promise<TestPostgres> {
  if (binDir === undefined) throw new Error(postgresSkipReason);
  const user = unixUser();
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(join(dir, 'pw'), password);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(join(dir, 'pw'), user.uid, user.gid);
  }
  chmodSync(dir, 0o700);
  const run = (command: string, args: string[]): void => {
    execFileSync(join(binDir, command), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
  };
  run('initdb', [
    '-D',
    data,
    '-U',
    'mcp',
    '--auth=scram-sha-256',
    `--pwfile=${join(dir, 'pw')}`,
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=300',
  ].join(' ');
  run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', '-o', settings, 'start']);
  let stopped = false;
  const url = `postgres://mcp:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name: string): Promise<string> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return `postgres://mcp:${password}@127.0.0.1:${port}/${name}`;
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
