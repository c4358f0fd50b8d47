// A throwaway PostgreSQL server: `initdb` and `pg_ctl` into a temporary folder.
// Plain ESM so that both the tests (through postgres.ts) and the benchmark
// (plain .mjs, which cannot import TypeScript) start it the same way.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Debian's server binaries (newest version first), or those on PATH; undefined when absent. */
export function postgresBinDir() {
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

/** Why no server can be started here (no binaries), or undefined when one can. */
export function postgresMissingReason(binDir = postgresBinDir()) {
  return binDir === undefined ? 'PostgreSQL server binaries (initdb, pg_ctl) not found' : undefined;
}

/** A port free on `host` right now (for a server that takes a port number, not 0). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The server refuses to run as root: as root, it runs as `postgres` (or `nobody`). */
function unixUser() {
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

/**
 * Starts a server on a free loopback port, password-authenticated (scram, so
 * a tenant's role really cannot log in as another), fsync off: it holds
 * nothing worth keeping. `stop()` is synchronous, so it also works from an
 * exit or signal handler.
 */
export async function startPostgresServer({ binDir = postgresBinDir() } = {}) {
  if (binDir === undefined) throw new Error(postgresMissingReason(binDir));
  const user = unixUser();
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-pg-'));
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(join(dir, 'pw'), password);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(join(dir, 'pw'), user.uid, user.gid);
  }
  chmodSync(dir, 0o700);
  const run = (command, args) => {
    execFileSync(join(binDir, command), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
  };
  try {
    run('initdb', [
      '-D',
      dataDir,
      '-U',
      'mcp',
      '--auth=scram-sha-256',
      `--pwfile=${join(dir, 'pw')}`,
      '-E',
      'UTF8',
      '--no-sync',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
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
  try {
    run('pg_ctl', [
      '-D',
      dataDir,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '60',
      '-o',
      settings,
      'start',
    ]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  const urlOf = (database) => `postgres://mcp:${password}@127.0.0.1:${port}/${database}`;
  const url = urlOf('postgres');
  return {
    url,
    port,
    dataDir,
    /** The postmaster's pid: the first line of postmaster.pid; its backends are its children. */
    postmasterPid() {
      try {
        const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
