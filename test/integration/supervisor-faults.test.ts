import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { connectHttp, textOf } from '../helpers/mcp-client.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import {
  adminStatus,
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** Runs a command quietly; true when it exits 0. */
function run(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** Whether this host lets the tests mount a tmpfs (root with CAP_SYS_ADMIN). */
function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(join(tmpdir(), 'mcp-tenants-mount-'));
  try {
    if (!run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe])) return false;
    run('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Whether files here can be made immutable (chattr +i: root on ext4 and the like). */
function canMakeImmutable(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'mcp-tenants-chattr-'));
  const file = join(probe, 'f');
  writeFileSync(file, '');
  try {
    if (!run('chattr', ['+i', file])) return false;
    run('chattr', ['-i', file]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const TMPFS = canMountTmpfs();
const CHATTR = canMakeImmutable();

describe('supervisor faults', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;
  const clients: Client[] = [];
  const cleanups: (() => void)[] = [];

  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.close()));
    const survivors = serve ? (await serve.stop()).survivors : [];
    // Unmount and make files mutable again before anything can fail.
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    workspace?.cleanup();
    serve = undefined;
    workspace = undefined;
    expect(survivors).toEqual([]);
  });

  async function client(tenant: string, user = 'alice'): Promise<Client> {
    const connected = await connectHttp(
      (serve as ServeProcess).url,
      await (workspace as TestWorkspace).token(tenant, user),
    );
    clients.push(connected);
    return connected;
  }

  async function state(tenant: string): Promise<string | undefined> {
    const body = await adminStatus((serve as ServeProcess).url, workspace as TestWorkspace);
    return body.tenants.find((entry) => entry.id === tenant)?.state;
  }

  it('SIGKILL mid-traffic: no orphans, databases intact, every acknowledged write readable', async () => {
    workspace = createWorkspace({ acme: {}, globex: {} });
    serve = await startServe(workspace.manifestPath);
    const acknowledged = new Map<string, { tenant: string; value: string }>();
    const writers = await Promise.all(
      ['acme', 'globex'].flatMap((tenant) =>
        ['alice', 'bob'].map(async (user) => ({
          tenant,
          user,
          client: await client(tenant, user),
        })),
      ),
    );
    let killed = false;
    const loops = writers.map(async ({ tenant, user, client: writer }) => {
      for (let i = 0; !killed; i += 1) {
        const key = `${user}-${i}`;
        const value = `${tenant}/${key}/${'v'.repeat(i % 50)}`;
        try {
          const result = await writer.callTool({ name: 'data_set', arguments: { key, value } });
          if (!result.isError) acknowledged.set(`${tenant}:${key}`, { tenant, value });
        } catch {
          return; // the supervisor is gone
        }
      }
    });
    await waitFor(() => acknowledged.size >= 80 || undefined, 15_000, '80 acknowledged writes');
    const children = serve.childPids();
    expect(children.length).toBeGreaterThanOrEqual(2);
    serve.process.kill('SIGKILL');
    killed = true;
    await Promise.all(loops);
    expect(await waitGone(children, 10_000)).toEqual([]);
    serve = undefined;

    const data = join(workspace.dir, 'data');
    for (const file of ['acme/tenant.db', 'globex/tenant.db', 'mcp-tenants.db']) {
      const db = new Database(join(data, file));
      let integrity: unknown;
      try {
        integrity = db.pragma('integrity_check', { simple: true });
      } finally {
        db.close();
      }
      expect(integrity, file).toBe('ok');
    }

    serve = await startServe(workspace.manifestPath);
    const readers = { acme: await client('acme'), globex: await client('globex') };
    for (const [id, { tenant, value }] of acknowledged) {
      const key = id.slice(tenant.length + 1);
      const read = await readers[tenant as 'acme' | 'globex'].callTool({
        name: 'data_get',
        arguments: { key },
      });
      expect(textOf(read), id).toBe(value);
    }
  });

  it.skipIf(!TMPFS)(
    'disk full: writes fail with a clear error, reads and the neighbour keep working',
    async () => {
      workspace = createWorkspace({ acme: {}, globex: {} });
      const folder = join(workspace.dir, 'data', 'acme');
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      expect(run('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', folder])).toBe(
        true,
      );
      cleanups.push(() => run('umount', ['-l', folder]));
      serve = await startServe(workspace.manifestPath);
      const acme = await client('acme');
      await acme.callTool({ name: 'data_set', arguments: { key: 'first', value: 'kept' } });
      let refusal: string | undefined;
      for (let i = 0; i < 40 && refusal === undefined; i += 1) {
        const result = await acme.callTool({
          name: 'data_set',
          arguments: { key: `big-${i}`, value: String(i).repeat(32 * 1024) },
        });
        if (result.isError) refusal = textOf(result);
      }
      expect(refusal).toMatch(/data_set failed: database or disk is full/);
      expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'first' } }))).toBe(
        'kept',
      );
      expect(textOf(await acme.callTool({ name: 'data_list', arguments: {} }))).toMatch(/first/);
      const globex = await client('globex');
      const written = await globex.callTool({
        name: 'data_set',
        arguments: { key: 'k', value: 'v' },
      });
      expect(written.isError).toBeFalsy();
      expect(await state('acme')).toBe('running');
      // Deleting needs room in the WAL too: refused the same way until the disk has space.
      const removal = await acme.callTool({ name: 'data_delete', arguments: { key: 'big-0' } });
      expect(textOf(removal)).toMatch(/data_delete failed: database or disk is full|deleted/);
      // Unmounted only once nothing holds the file open.
      expect((await serve.stop()).survivors).toEqual([]);
      serve = undefined;
    },
  );

  // The database file made immutable, or the whole tenant folder (as on a
  // read-only mount: SQLite cannot even create the -shm file a reader needs).
  it.skipIf(!CHATTR).each(['tenant.db', 'the tenant folder'])(
    'read-only data (%s): reads keep working, writes fail with a clear error',
    async (what) => {
      workspace = createWorkspace({ acme: { idle_timeout_ms: 300 }, globex: {} });
      serve = await startServe(workspace.manifestPath);
      const acme = await client('acme');
      await acme.callTool({ name: 'data_set', arguments: { key: 'kept', value: 'yes' } });
      // Made read-only while its child is stopped; the next call starts a new one.
      await waitFor(async () => (await state('acme')) === 'stopped' || undefined, 5_000, 'idle');
      const folder = join(workspace.dir, 'data', 'acme');
      const target = what === 'tenant.db' ? join(folder, 'tenant.db') : folder;
      expect(run('chattr', ['+i', target])).toBe(true);
      cleanups.push(() => run('chattr', ['-i', target]));

      expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'kept' } }))).toBe(
        'yes',
      );
      for (const [name, args] of [
        ['data_set', { key: 'new', value: 'no' }],
        ['data_delete', { key: 'kept' }],
      ] as const) {
        const refused = await acme.callTool({ name, arguments: args });
        expect(refused.isError, name).toBe(true);
        expect(textOf(refused)).toMatch(
          /the tenant's data is read-only .*tenant\.db.*reads still work/,
        );
      }
      expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'kept' } }))).toBe(
        'yes',
      );
      const globex = await client('globex');
      expect(
        (await globex.callTool({ name: 'data_set', arguments: { key: 'k', value: 'v' } })).isError,
      ).toBeFalsy();
    },
  );

  it('manifest deleted, emptied or corrupted while running: keeps the running configuration', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
    const acme = await client('acme');
    const refusals = () => serve?.stderr().match(/manifest reload refused/g)?.length ?? 0;
    const damage: [() => void, RegExp][] = [
      [() => unlinkSync(workspace?.manifestPath as string), /not found/],
      [() => writeFileSync(workspace?.manifestPath as string, ''), /empty|tenants|auth/],
      [
        () => writeFileSync(workspace?.manifestPath as string, '{"server": {"data_dir": "./da'),
        /tenants\.yaml:1/,
      ],
      [() => writeFileSync(workspace?.manifestPath as string, 'tenants: { acme: {} }\n'), /auth/],
    ];
    for (const [index, [breakIt, why]] of damage.entries()) {
      breakIt();
      if (index === 0) serve.process.kill('SIGHUP');
      await waitFor(() => refusals() > index || undefined, 5_000, `refusal ${index + 1}`);
      const line = serve
        .stderr()
        .split('\n')
        .filter((entry) => /manifest reload refused/.test(entry))
        .at(-1);
      expect(line).toMatch(why);
      // Still serving the running configuration, to old sessions and new ones.
      await acme.callTool({ name: 'data_set', arguments: { key: `k${index}`, value: 'v' } });
      const fresh = await client('acme', `user-${index}`);
      expect((await fresh.listTools()).tools.length).toBeGreaterThanOrEqual(4);
    }
    expect(serve.stderr()).not.toMatch(/manifest reloaded/);
    // Repaired: reloaded as usual.
    workspace.rewrite({ acme: {}, later: {} });
    await waitFor(() => /manifest reloaded/.test(serve?.stderr() ?? '') || undefined, 5_000);
    const later = await client('later');
    expect((await later.listTools()).tools.length).toBeGreaterThanOrEqual(4);
  });
});
