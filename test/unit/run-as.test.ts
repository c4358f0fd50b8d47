import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunAs } from '../../src/core/config.js';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import type { SpawnPlan } from '../../src/process/child-process.js';
import { LIMITS_ARGV0, LIMITS_SCRIPT, wrapPlan } from '../../src/process/limits/wrap.js';
import { blockedAt } from '../../src/process/reachable.js';
import { applyIdentity, runAsProblem, spawnIdentity } from '../../src/process/run-as.js';
import { handOver } from '../../src/process/tenant-owner.js';

const IS_ROOT = process.getuid?.() === 0;
const identity = { uid: 64000, gid: 64001, setpriv: '/usr/bin/setpriv' };
const SETPRIV = ['/usr/bin/setpriv', '--reuid=64000', '--regid=64001', '--clear-groups', '--'];
const plan: SpawnPlan = {
  command: '/usr/bin/node',
  args: ['server.js'],
  cwd: '/data/acme',
  env: { PATH: '/bin' },
  identity,
};
const runAs: RunAs = { uid: 65534, gid: 65534, user: 'nobody (uid 65534)', group: 'gid 65534' };

describe('starting a child as another user', () => {
  it('puts setpriv, with no supplementary groups, right before the program', () => {
    expect(applyIdentity(plan)).toEqual({
      ...plan,
      command: '/usr/bin/setpriv',
      args: [...SETPRIV.slice(1), '/usr/bin/node', 'server.js'],
      identity: undefined,
    });
    const plain = { ...plan, identity: undefined };
    expect(applyIdentity(plain)).toBe(plain);
  });

  it('switches after the root-only steps: cgroup join and prlimit first, setpriv last', () => {
    const wrapped = wrapPlan(plan, {
      procsFiles: ['/cg/acme/cgroup.procs'],
      rlimits: [{ resource: 'nofile', value: 64 }],
      prlimit: '/usr/bin/prlimit',
      memoryMb: 128,
    });
    expect(wrapped.command).toBe('/bin/sh');
    expect(wrapped.identity).toBeUndefined();
    expect(wrapped.args).toEqual([
      '-c',
      LIMITS_SCRIPT,
      LIMITS_ARGV0,
      '/cg/acme/cgroup.procs',
      '--',
      '--',
      '/usr/bin/prlimit',
      '--nofile=64:64',
      '--',
      ...SETPRIV,
      // The heap cap still sees a Node command behind setpriv.
      '/usr/bin/node',
      '--max-old-space-size=96',
      'server.js',
    ]);
    // With the shell's ulimit instead of prlimit, the program is setpriv too.
    const ulimit = wrapPlan(plan, { procsFiles: [], rlimits: [{ resource: 'nofile', value: 64 }] });
    expect(ulimit.args.slice(-10)).toEqual([
      '-n',
      '64',
      '--',
      ...SETPRIV,
      '/usr/bin/node',
      'server.js',
    ]);
    // Nothing to wrap: the plan goes on with its identity, which starting it applies (setpriv alone).
    const unwrapped = wrapPlan(plan, { procsFiles: [], rlimits: [] });
    expect(unwrapped.identity).toEqual(plan.identity);
    expect(applyIdentity(unwrapped).command).toBe('/usr/bin/setpriv');
  });

  it('needs root, and says what to do otherwise', () => {
    const notRoot = runAsProblem('acme', runAs, 1000, '/usr/bin/setpriv');
    expect(notRoot?.detail).toBe(
      'tenant "acme" is set to run as nobody (uid 65534), group gid 65534, but the supervisor runs as uid 1000: only root can start a child as another user',
    );
    expect(notRoot?.fix).toMatch(/run `mcp-tenants serve` as root, or remove user and group/);
    expect(runAsProblem('acme', runAs, 0, undefined)?.fix).toMatch(/install util-linux/);
    expect(runAsProblem('acme', runAs, 0, '/usr/bin/setpriv')).toBeUndefined();
    let error: unknown;
    try {
      spawnIdentity('acme', runAs, 1000);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(McpTenantsError);
    expect((error as McpTenantsError).code).toBe(ErrorCode.CHILD_UNAVAILABLE);
    expect((error as McpTenantsError).message).toMatch(
      /only root .*; run `mcp-tenants serve` as root/,
    );
  });
});

describe('what a tenant’s user can reach', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-reach-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('follows the mode bits of every folder on the way, as owner, group or other', () => {
    const self = { uid: statSync(dir).uid, gid: statSync(dir).gid };
    const stranger = { uid: 64000, gid: 64000 };
    const file = join(dir, 'sub', 'code.js');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(file, '', { mode: 0o644 });
    chmodSync(dir, 0o700);
    expect(blockedAt(file, self, 'read')).toBeUndefined();
    expect(blockedAt(file, stranger, 'read')).toMatch(
      new RegExp(`^${dir} \\(mode 0700, owner uid ${self.uid}, group gid ${self.gid}\\)$`),
    );
    chmodSync(dir, 0o711);
    expect(blockedAt(file, stranger, 'read')).toBeUndefined();
    expect(blockedAt(file, stranger, 'run')).toMatch(/code\.js \(mode 0644/);
    chmodSync(file, 0o640);
    expect(blockedAt(file, stranger, 'read')).toMatch(/code\.js \(mode 0640/);
    expect(blockedAt(file, { uid: 64000, gid: self.gid }, 'read')).toBeUndefined();
    expect(blockedAt(join(dir, 'missing'), stranger, 'read')).toMatch(/ENOENT/);
  });
});

// Changing a file's owner needs root.
describe.skipIf(!IS_ROOT)('handing a tenant folder to its user (needs root)', () => {
  let dir: string;
  const who = { uid: 64000, gid: 64000 };
  const ownerOf = (path: string) => ({ uid: statSync(path).uid, gid: statSync(path).gid });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-owner-'));
    mkdirSync(join(dir, 'acme', 'nested'), { recursive: true });
    writeFileSync(join(dir, 'acme', 'tenant.db'), 'x');
    writeFileSync(join(dir, 'acme', 'nested', 'file'), 'y');
    writeFileSync(join(dir, 'outside'), 'z');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the folder and everything in it, never what a symbolic link points at', () => {
    symlinkSync(join(dir, 'outside'), join(dir, 'acme', 'link'));
    handOver(join(dir, 'acme'), who);
    for (const path of ['acme', 'acme/tenant.db', 'acme/nested', 'acme/nested/file']) {
      expect(ownerOf(join(dir, path)), path).toEqual(who);
    }
    expect(ownerOf(join(dir, 'outside'))).toEqual({ uid: 0, gid: 0 });
  });

  it('refuses a file with a second hard link, which may be another file’s name', () => {
    linkSync(join(dir, 'outside'), join(dir, 'acme', 'shadow'));
    expect(() => handOver(join(dir, 'acme'), who)).toThrow(
      /acme\/shadow cannot be given to the tenant's user: it has 2 hard links/,
    );
    expect(ownerOf(join(dir, 'outside'))).toEqual({ uid: 0, gid: 0 });
  });

  it('leaves a folder that is already the user’s alone', () => {
    handOver(join(dir, 'acme'), who);
    linkSync(join(dir, 'outside'), join(dir, 'acme', 'later'));
    // The folder is the user's already: its contents are not walked again.
    expect(() => handOver(join(dir, 'acme'), who)).not.toThrow();
    expect(ownerOf(join(dir, 'outside'))).toEqual({ uid: 0, gid: 0 });
  });
});
