import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  adminStatus,
  CLI,
  createWorkspace,
  FIXTURES,
  type ServeProcess,
  startServe,
  type TenantSpec,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
const PROBE = join(FIXTURES, 'tool-modules', 'probe.mjs');

/**
 * Whether an unprivileged user can run this checkout's code at all: a clone
 * below a 0700 home folder cannot be, and then a child started as another
 * user has nothing to run (the supervisor refuses it, naming the folder).
 */
const CHECKOUT_REACHABLE =
  IS_ROOT &&
  spawnSync('setpriv', [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    '--',
    process.execPath,
    '-e',
    `require('node:fs').accessSync(${JSON.stringify(CLI)}, 4); require(${JSON.stringify(join(FIXTURES, '..', '..', 'node_modules', 'better-sqlite3'))})`,
  ]).status === 0;
if (IS_ROOT && !CHECKOUT_REACHABLE) {
  process.stderr.write(
    'tenant-uid: skipped: uid 65534 cannot read this checkout (a parent folder is not world-executable); clone it somewhere readable, e.g. /srv or /tmp, to run these tests\n',
  );
}

interface Health {
  tenants: { id: string; pid: number | null; uid: number | null; gid: number | null }[];
}

async function health(serve: ServeProcess, workspace: TestWorkspace): Promise<Health> {
  return adminStatus<Health>(serve.url, workspace);
}

/** Real, effective, saved and file-system ids, and supplementary groups, as the kernel has them. */
function credentials(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] =>
    (new RegExp(`^${name}:(.*)$`, 'm').exec(status)?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

const owner = (path: string) => {
  const stat = statSync(path);
  return { uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 };
};

// Only root can start a process as another user: elsewhere these are skipped.
describe.skipIf(!CHECKOUT_REACHABLE)('tenants with their own uid and gid (needs root)', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let acme: Client;
  let globex: Client;
  let initech: Client;
  const data = () => join(workspace.dir, 'data');
  const tenants: Record<string, TenantSpec> = {
    acme: { user: 'nobody', group: 'nogroup', limits: { open_files: 200 } },
    globex: { user: 64000, group: 64000, tools_modules: [PROBE] },
    initech: {},
  };
  const pidOf = async (tenant: string): Promise<number> =>
    waitFor(async () => {
      const line = (await health(serve, workspace)).tenants.find((entry) => entry.id === tenant);
      return line?.pid ?? undefined;
    });

  beforeAll(async () => {
    workspace = createWorkspace(tenants);
    // mkdtemp makes the folder 0700: the tenants' users must be able to pass through it.
    chmodSync(workspace.dir, 0o755);
    // Supplementary groups of its own (4, 27), so it shows that the children do not inherit them.
    serve = await startServe(workspace.manifestPath, [], ['setpriv', '--groups=4,27', '--']);
    acme = await connectHttp(serve.url, await workspace.token('acme'));
    globex = await connectHttp(serve.url, await workspace.token('globex'));
    initech = await connectHttp(serve.url, await workspace.token('initech'));
  });

  afterAll(async () => {
    await Promise.allSettled([acme?.close(), globex?.close(), initech?.close()]);
    // Guarded: when beforeAll failed, its error is the one to see, and the folder still goes.
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  it('runs each child as its own uid and gid, with no supplementary groups', async () => {
    expect(credentials(serve.process.pid as number).groups).toEqual([4, 27]);
    const expected = { acme: NOBODY, globex: 64000 };
    for (const [tenant, id] of Object.entries(expected)) {
      const pid = await pidOf(tenant);
      expect(serve.childPids(), tenant).toContain(pid);
      expect(credentials(pid), tenant).toEqual({
        uid: [id, id, id, id],
        gid: [id, id, id, id],
        groups: [],
      });
    }
    const lines = (await health(serve, workspace)).tenants;
    expect(lines.find((line) => line.id === 'acme')).toMatchObject({ uid: NOBODY, gid: NOBODY });
    expect(lines.find((line) => line.id === 'initech')).toMatchObject({ uid: null, gid: null });
    // The limits were applied as root, before the switch: acme's child has its open_files.
    const limits = readFileSync(`/proc/${await pidOf('acme')}/limits`, 'utf8');
    expect(limits).toMatch(/^Max open files\s+200\s+200\s/m);
  });

  it('keeps the tools, stdio and the IPC channel of the built-in server working', async () => {
    for (const client of [acme, globex]) {
      const stored = await client.callTool({
        name: 'data_set',
        arguments: { key: 'k', value: 'v' },
      });
      expect(stored.isError).toBeFalsy();
      expect(textOf(await client.callTool({ name: 'data_get', arguments: { key: 'k' } }))).toBe(
        'v',
      );
    }
    const pid = await pidOf('globex');
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const channel = environ.find((entry) => entry.startsWith('NODE_CHANNEL_FD='))?.split('=')[1];
    expect(channel).toBeDefined();
    expect(readlinkSync(`/proc/${pid}/fd/${channel}`)).toMatch(/^socket:/);
  });

  it('gives each tenant its own folder (0700, its user’s) and keeps the supervisor’s database root’s', () => {
    expect(owner(join(data(), 'acme'))).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o700 });
    expect(owner(join(data(), 'globex'))).toEqual({ uid: 64000, gid: 64000, mode: 0o700 });
    expect(owner(join(data(), 'acme', 'tenant.db'))).toEqual({
      uid: NOBODY,
      gid: NOBODY,
      mode: 0o600,
    });
    expect(owner(join(data(), 'globex', 'tenant.db'))).toEqual({
      uid: 64000,
      gid: 64000,
      mode: 0o600,
    });
    // Search only: a tenant's user may pass through, not list it.
    expect(owner(data())).toEqual({ uid: 0, gid: 0, mode: 0o711 });
    expect(owner(join(data(), 'mcp-tenants.db'))).toEqual({ uid: 0, gid: 0, mode: 0o600 });
  });

  it('shows each tenant’s uid in `mcp-tenants tenants`', () => {
    const listed = spawnSync(
      process.execPath,
      [CLI, 'tenants', '-m', workspace.manifestPath, '--url', serve.url.replace(/\/mcp$/, '')],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
    );
    expect(listed.status, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TENANT .* RESTARTS\s+UID$/);
    const uidOf = (id: string) =>
      lines
        .find((line) => line.startsWith(`${id} `))
        ?.split(/\s+/)
        .at(-1);
    expect([uidOf('acme'), uidOf('globex'), uidOf('initech')]).toEqual(['65534', '64000', '-']);
  });

  it('stops a tenant at every file but its own: other tenants’, the supervisor’s, the folder list', async () => {
    const probe = async (path: string, list = false) =>
      textOf(await globex.callTool({ name: 'probe_path', arguments: { path, list } }));
    expect(await probe(join(data(), 'globex', 'tenant.db'))).toBe('opened');
    expect(await probe(join(data(), 'acme', 'tenant.db'))).toBe('EACCES');
    expect(await probe(join(data(), 'acme'), true)).toBe('EACCES');
    expect(await probe(join(data(), 'mcp-tenants.db'))).toBe('EACCES');
    expect(await probe(data(), true)).toBe('EACCES');
    // The neighbour carries on.
    expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'k' } }))).toBe('v');
  });

  it('hands a folder written as root to the tenant’s new user on reload, data included', async () => {
    await initech.callTool({ name: 'data_set', arguments: { key: 'before', value: 'root' } });
    const rootPid = await pidOf('initech');
    expect(credentials(rootPid).uid).toEqual([0, 0, 0, 0]);
    workspace.rewrite({ ...tenants, initech: { user: 64001, group: 64001 } });
    await waitFor(
      async () => {
        const line = (await health(serve, workspace)).tenants.find(
          (entry) => entry.id === 'initech',
        );
        return line?.uid === 64001 && line.pid !== rootPid ? true : undefined;
      },
      10_000,
      'initech restarted as uid 64001',
    );
    const read = await initech.callTool({ name: 'data_get', arguments: { key: 'before' } });
    expect(textOf(read)).toBe('root');
    const written = await initech.callTool({
      name: 'data_set',
      arguments: { key: 'after', value: 'x' },
    });
    expect(written.isError).toBeFalsy();
    expect(credentials(await pidOf('initech')).uid).toEqual([64001, 64001, 64001, 64001]);
    expect(owner(join(data(), 'initech'))).toEqual({ uid: 64001, gid: 64001, mode: 0o700 });
    expect(owner(join(data(), 'initech', 'tenant.db'))).toMatchObject({ uid: 64001, gid: 64001 });
  });
});

describe('a tenant with user: where it cannot run as that user', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterAll(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
  });

  const doctor = (manifest: string, as: { uid?: number; gid?: number } = {}) => {
    const result = spawnSync(process.execPath, [CLI, 'doctor', '-m', manifest, '--json'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      ...as,
    });
    const findings = JSON.parse(result.stdout) as {
      check: string;
      status: string;
      detail: string;
      fix?: string;
    }[];
    return { code: result.status, finding: findings.find((entry) => entry.check === 'user acme') };
  };

  it.skipIf(IS_ROOT && !CHECKOUT_REACHABLE)(
    'is refused at its start under a supervisor that is not root, and doctor fails it with the fix',
    async () => {
      workspace = createWorkspace({ acme: { user: 'nobody' }, plain: {} });
      // As root, the supervisor runs as nobody here; as anyone else, as that user.
      const as = IS_ROOT ? { uid: NOBODY, gid: NOBODY } : {};
      const launcher = IS_ROOT
        ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']
        : [];
      if (IS_ROOT) {
        chownSync(workspace.dir, NOBODY, NOBODY);
        chownSync(workspace.manifestPath, NOBODY, NOBODY);
      }
      serve = await startServe(workspace.manifestPath, [], launcher);
      const refused = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.token('acme')}`,
      });
      expect(refused.status).toBe(503);
      const body = JSON.stringify(refused.body);
      expect(body).toMatch(/CHILD_UNAVAILABLE/);
      expect(body).toMatch(/only root can start a child as another user/);
      expect(body).toMatch(
        /run `mcp-tenants serve` as root, or remove user and group from tenant acme/,
      );
      // Nothing was created for it; the other tenant carries on.
      expect(existsSync(join(workspace.dir, 'data', 'acme'))).toBe(false);
      const plain = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.token('plain')}`,
      });
      expect(plain.status).toBe(200);

      const { code, finding } = doctor(workspace.manifestPath, as);
      expect(code).toBe(1);
      expect(finding).toMatchObject({ status: 'fail' });
      expect(finding?.detail).toMatch(
        /nobody \(uid 65534\).*only root can start a child as another user/,
      );
      expect(finding?.fix).toMatch(/run `mcp-tenants serve` as root/);
    },
  );

  it.skipIf(!IS_ROOT)('fails in doctor when the tenant’s user cannot reach the data folder', () => {
    const blocked = createWorkspace({ acme: { user: 'nobody' } });
    try {
      // The workspace stays 0700 root: nobody cannot pass through it to ./data.
      const { code, finding } = doctor(blocked.manifestPath);
      expect(code).toBe(1);
      expect(finding?.detail).toMatch(/cannot enter the folder of data_dir/);
      expect(finding?.detail).toContain(`stopped at ${blocked.dir} (mode 0700, owner uid 0`);
      expect(finding?.fix).toMatch(/let nobody \(uid 65534\) reach those files/);
    } finally {
      blocked.cleanup();
    }
  });
});

describe('add-tenant --user / --group', () => {
  it('writes numeric ids as numbers and names as names, and refuses an unknown name', () => {
    const workspace = createWorkspace({});
    const addTenant = (...args: string[]) =>
      spawnSync(process.execPath, [CLI, 'add-tenant', ...args, '-m', workspace.manifestPath], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
    try {
      const added = addTenant('globex', '--user', '64000', '--group', '64000');
      expect(added.stderr).toBe('');
      expect(added.status).toBe(0);
      expect(addTenant('acme', '--user', 'nobody').status).toBe(0);
      const text = readFileSync(workspace.manifestPath, 'utf8');
      // Numbers as numbers (`user: 64000`, not "64000"), names as names; both load.
      expect(text).toMatch(/globex: \{ user: 64000, group: 64000 \}/);
      expect(text).toMatch(/acme: \{ user: nobody \}/);
      const tenants = loadManifest(workspace.manifestPath).tenants;
      expect(tenants.get('globex')?.run_as).toMatchObject({ uid: 64000, gid: 64000 });
      expect(tenants.get('acme')?.run_as).toMatchObject({ uid: NOBODY, gid: NOBODY });
      const refused = addTenant('initech', '--user', 'no-such-user-mcp-tenants');
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(
        /invalid --user for tenant initech: no user "no-such-user-mcp-tenants"/,
      );
      expect(readFileSync(workspace.manifestPath, 'utf8')).toBe(text);
    } finally {
      workspace.cleanup();
    }
  });
});
