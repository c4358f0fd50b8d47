// biome-ignore-all lint/suspicious/noTemplateCurlyInString: manifests spell ${VAR} references literally
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { addTenant } from '../../src/manifest/edit.js';
import { manifestJsonSchema } from '../../src/manifest/json-schema.js';
import { loadManifest, parseManifest } from '../../src/manifest/load.js';
import { resolveRunAs, type UserDatabase } from '../../src/manifest/resolve-run-as.js';
import { findGroup, findUser } from '../../src/manifest/user-database.js';

const SECRET = 's'.repeat(40);
const MISSING = 'no-such-user-mcp-tenants';

/** A user database of a few entries, so resolution is tested without the host's. */
const database: UserDatabase = {
  findUser: (key) =>
    [
      { name: 'svc', uid: 1500, gid: 1600 },
      { name: 'wheelie', uid: 1700, gid: 0 },
      { name: 'root', uid: 0, gid: 0 },
    ].find((user) => user.name === key || String(user.uid) === key),
  findGroup: (key) =>
    [
      { name: 'svcgrp', gid: 1600 },
      { name: 'root', gid: 0 },
    ].find((group) => group.name === key || String(group.gid) === key),
};

const resolve = (
  tenant: { user?: string | number; group?: string | number },
  defaults?: { user?: string | number; group?: string | number },
) => resolveRunAs(tenant, defaults, database);

describe('resolveRunAs', () => {
  it('leaves a tenant without user or group to the supervisor’s own identity', () => {
    expect(resolve({})).toEqual({ runAs: undefined });
  });

  it('resolves a name to its uid and primary group', () => {
    expect(resolve({ user: 'svc' })).toEqual({
      runAs: { uid: 1500, gid: 1600, user: 'svc (uid 1500)', group: 'svcgrp (gid 1600)' },
    });
  });

  it('takes numeric ids as they are, named when the database knows them', () => {
    expect(resolve({ user: 64000, group: 64000 })).toEqual({
      runAs: { uid: 64000, gid: 64000, user: 'uid 64000', group: 'gid 64000' },
    });
    expect(resolve({ user: 1500 })).toMatchObject({ runAs: { uid: 1500, gid: 1600 } });
    expect(resolve({ user: 'svc', group: 'svcgrp' })).toMatchObject({ runAs: { gid: 1600 } });
  });

  it('merges key by key with defaults, the tenant’s own key winning', () => {
    expect(resolve({ user: 64000 }, { user: 'svc', group: 1234 })).toMatchObject({
      runAs: { uid: 64000, gid: 1234 },
    });
    expect(resolve({}, { user: 'svc' })).toMatchObject({ runAs: { uid: 1500, gid: 1600 } });
  });

  it('refuses what cannot work, naming the key, where it came from and the fix', () => {
    const cases: [Parameters<typeof resolve>, string, boolean, RegExp][] = [
      [[{ user: 'ghost' }], 'user', false, /no user "ghost".*useradd --system.*numeric uid/],
      [[{ user: 'svc', group: 'ghosts' }], 'group', false, /no group "ghosts".*groupadd/],
      [[{ group: 'svcgrp' }], 'group', false, /group is set but user is not/],
      [[{}, { group: 'svcgrp' }], 'group', true, /group is set but user is not/],
      [[{ user: 64000 }], 'user', false, /uid 64000 has no entry .* set group too/],
      [[{ user: 'root' }], 'user', false, /root \(uid 0\)/],
      [[{ user: 0, group: 5 }], 'user', false, /root \(uid 0\)/],
      [[{ user: 'svc', group: 0 }], 'group', false, /gid 0/],
      [[{ user: 'svc', group: 'root' }], 'group', false, /gid 0/],
      [[{ user: 'wheelie' }], 'user', false, /primary group of wheelie .* is root's/],
      [[{}, { user: 'ghost' }], 'user', true, /no user "ghost"/],
    ];
    for (const [args, key, fromDefaults, message] of cases) {
      const outcome = resolve(...args);
      expect(outcome, JSON.stringify(args)).toMatchObject({ problem: { key, fromDefaults } });
      if ('problem' in outcome) expect(outcome.problem.message).toMatch(message);
    }
  });
});

describe('the system user database', () => {
  it('finds users and groups by name and by id, and says so when there is none', () => {
    expect(findUser('root')).toMatchObject({ uid: 0, gid: 0 });
    expect(findUser('0')).toMatchObject({ name: 'root' });
    expect(findGroup('0')).toMatchObject({ gid: 0 });
    expect(findUser(MISSING)).toBeUndefined();
    expect(findGroup(MISSING)).toBeUndefined();
  });
});

describe('user and group in the manifest', () => {
  const load = (lines: string[], env: NodeJS.ProcessEnv = {}) =>
    parseManifest(`auth:\n  secret: ${SECRET}\n${lines.join('\n')}\n`, 'my.yaml', '/x', env);
  const errorOf = (lines: string[]): string => {
    try {
      load(lines);
    } catch (error) {
      expect(error).toBeInstanceOf(McpTenantsError);
      expect((error as McpTenantsError).code).toBe(ErrorCode.MANIFEST_INVALID);
      return (error as McpTenantsError).message;
    }
    throw new Error('expected the manifest to be rejected');
  };

  it('resolves numeric ids, also from ${VAR}, and applies defaults', () => {
    const manifest = load(
      [
        'defaults:',
        '  user: 64000',
        '  group: 64000',
        'tenants:',
        '  acme: {}',
        '  globex:',
        '    user: ${TENANT_UID}',
        '    group: "64002"',
      ],
      { TENANT_UID: '64001' },
    );
    expect(manifest.tenants.get('acme')?.run_as).toMatchObject({ uid: 64000, gid: 64000 });
    expect(manifest.tenants.get('globex')?.run_as).toMatchObject({ uid: 64001, gid: 64002 });
  });

  it('reports an unknown user with its line, once for defaults', () => {
    expect(errorOf(['tenants:', '  acme:', `    user: ${MISSING}`])).toBe(
      `my.yaml:5 tenants.acme.user: no user "${MISSING}" in this system's user database (getent passwd ${MISSING}); create it (e.g. \`useradd --system --no-create-home ${MISSING}\`) or give a numeric uid`,
    );
    const defaults = errorOf(['defaults:', `  user: ${MISSING}`, 'tenants:', '  a: {}', '  b: {}']);
    expect(defaults).toMatch(/^my\.yaml:4 defaults\.user: no user/);
    expect(defaults).not.toMatch(/problems/);
  });

  it('collects the problems of several tenants, each at its line', () => {
    const message = errorOf([
      'tenants:',
      '  a:',
      '    group: 64000',
      '  b:',
      '    user: 64001',
      '  c:',
      '    user: 0',
      '    group: 5',
    ]);
    expect(message.split('\n')).toEqual([
      'my.yaml: 3 problems in the manifest:',
      expect.stringMatching(/^my\.yaml:5 tenants\.a\.group: group is set but user is not/),
      expect.stringMatching(/^my\.yaml:7 tenants\.b\.user: uid 64001 has no entry/),
      expect.stringMatching(/^my\.yaml:9 tenants\.c\.user: user is root \(uid 0\)/),
    ]);
  });

  it('refuses malformed values before looking anything up', () => {
    for (const value of ['-1', '1.5', '"a:b"', '4294967295', '[1]', '"-x"']) {
      expect(errorOf(['tenants:', '  acme:', `    user: ${value}`]), value).toMatch(
        /^my\.yaml:5 tenants\.acme\.user: expected a user name or a numeric uid \(0 to 4294967294\)/,
      );
    }
    expect(errorOf(['tenants:', '  acme:', '    user: 1', '    grop: 1'])).toMatch(
      /tenants\.acme\.grop: unknown key .*group/,
    );
  });

  it('is described by the JSON Schema for editors', () => {
    type Node = { properties?: Record<string, Node>; additionalProperties?: Node };
    const schema = manifestJsonSchema() as Node;
    const tenant = schema.properties?.tenants?.additionalProperties?.properties;
    const defaults = schema.properties?.defaults?.properties;
    for (const key of ['user', 'group']) {
      expect(tenant?.[key], key).toBeDefined();
      expect(defaults?.[key], key).toBeDefined();
    }
  });
});

describe('addTenant with user and group', () => {
  let dir: string;
  let path: string;
  const original = `auth:\n  secret: ${SECRET}\ntenants:\n  acme: {}\n`;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-run-as-'));
    path = join(dir, 'my.yaml');
    writeFileSync(path, original);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes them as given, and the result loads', () => {
    addTenant(path, { id: 'globex', user: 64000, group: 64000 });
    expect(readFileSync(path, 'utf8')).toMatch(/ {2}globex:\n {4}user: 64000\n {4}group: 64000\n/);
    expect(loadManifest(path).tenants.get('globex')?.run_as).toMatchObject({
      uid: 64000,
      gid: 64000,
    });
  });

  it('reads defaults.user from ${VAR} as serve would, and leaves an unset one to serve', () => {
    const withDefaults = `auth:\n  secret: ${SECRET}\ndefaults:\n  user: \${RUN_USER}\ntenants:\n  acme: {}\n`;
    writeFileSync(path, withDefaults);
    // Set here: the default user is 64000, so a tenant's own group completes it.
    addTenant(path, { id: 'globex', group: 64000 }, { RUN_USER: '64000' });
    expect(readFileSync(path, 'utf8')).toMatch(/ {2}globex:\n {4}group: 64000\n/);
    // Not set here: nothing to check it against, so it is written as asked.
    addTenant(path, { id: 'initech', group: 64001 }, {});
    expect(readFileSync(path, 'utf8')).toMatch(/ {2}initech:\n {4}group: 64001\n/);
  });

  it('refuses an unknown name or a missing group as a usage error, leaving the file untouched', () => {
    const attempts: [Parameters<typeof addTenant>[1], RegExp][] = [
      [{ id: 'globex', user: MISSING }, /invalid --user for tenant globex: no user/],
      [{ id: 'globex', user: 64000 }, /invalid --user .* set group too/],
      [{ id: 'globex', group: 64000 }, /invalid --group .* group is set but user is not/],
      [
        { id: 'globex', user: 'a:b' },
        /invalid settings for tenant globex: user: expected a user name/,
      ],
    ];
    for (const [tenant, message] of attempts) {
      let error: unknown;
      try {
        addTenant(path, tenant, {});
      } catch (caught) {
        error = caught;
      }
      expect(error, JSON.stringify(tenant)).toBeInstanceOf(McpTenantsError);
      expect((error as McpTenantsError).code).toBe(ErrorCode.USAGE);
      expect((error as McpTenantsError).message).toMatch(message);
      expect(readFileSync(path, 'utf8')).toBe(original);
    }
  });
});
