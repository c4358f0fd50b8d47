/**
 * The built-in tenant server's data on a real PostgreSQL (password
 * authentication): the supervisor's provisioning (a role and a schema per
 * tenant), what a tenant's role can and cannot reach, the compiled child
 * (dist/tenant-server/main.js, built by the caller) keeping its data there
 * across a move, the storage quota with two children writing at once, and
 * the lease fence.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/app/store.js';
import { DEFAULT_QUOTAS } from '../../src/core/config.js';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import { BUILTIN_CHILD_ENTRY, spawnPlan } from '../../src/process/spawn-plan.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresStore } from '../../src/store/postgres.js';
import {
  ENTRIES_TABLE,
  TENANT_STORE_SCHEMA_ENV,
  TENANT_STORE_URL_ENV,
  TenantDataRoles,
  tenantObjectName,
  tenantUrl,
} from '../../src/store/tenant-data.js';
import { FENCED_SQLSTATE, TENANT_DATA_SCHEMA } from '../../src/store/tenant-data-migrations.js';
import { LEASE_EPOCH_ENV } from '../../src/tenant-server/options.js';
import * as childSide from '../../src/tenant-server/pg-store.js';
import { PgTenantStore } from '../../src/tenant-server/pg-store.js';
import { postgresSkipReason, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const FIXED_NOW = new Date('2025-01-02T03:04:05.000Z');
const MIB = 1024 * 1024;

type Env = Record<string, string>;

interface Child {
  client: Client;
  pid: number;
  stderr: () => string;
}

describe.skipIf(postgresSkipReason !== undefined)('tenant data on PostgreSQL', () => {
  let server: TestPostgres;
  let storeUrl: string;
  let store: PostgresStore;
  let roles: TenantDataRoles;
  const dirs: string[] = [];
  const closers: Array<() => Promise<void>> = [];

  /** A client of our own, closed after the test. */
  async function connectAs(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    closers.push(() => client.end());
    return client;
  }

  /** The SQLSTATE a statement fails with (undefined: it did not fail). */
  async function failureOf(client: pg.Client, sql: string): Promise<string | undefined> {
    try {
      await client.query(sql);
      return undefined;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  }

  async function signInFailure(url: string): Promise<string | undefined> {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return undefined;
    } catch (error) {
      await client.end().catch(() => {});
      return (error as { code?: string }).code ?? String(error);
    }
  }

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tenant-data-pg-'));
    dirs.push(dir);
    return dir;
  }

  /** The tenant's child as the supervisor starts it: spawnPlan's command and env, plus `extra`. */
  async function startChild(
    tenantId: string,
    extra: Env,
    options: { maxStorageMb?: number; dataDir?: string } = {},
  ): Promise<Child> {
    const tenant = tenantConfig({
      id: tenantId,
      quotas: { ...DEFAULT_QUOTAS, max_storage_mb: options.maxStorageMb ?? 16 },
    });
    const plan = spawnPlan(tenant, options.dataDir ?? tempDir());
    expect(plan.args).toEqual([BUILTIN_CHILD_ENTRY]);
    const transport = new StdioClientTransport({
      command: plan.command,
      args: plan.args,
      cwd: plan.cwd,
      env: { ...plan.env, ...extra },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const client = new Client({ name: 'tenant-data-pg-test', version: '0.0.0' });
    await client.connect(transport);
    const pid = transport.pid ?? 0;
    closers.push(async () => {
      await client.close();
      await waitFor(() => !isAlive(pid), 5_000, `child ${pid} to exit`);
    });
    return { client, pid, stderr: () => stderr };
  }

  async function call(child: Child, name: string, args: Record<string, unknown>) {
    const result = (await child.client.callTool({ name, arguments: args })) as CallToolResult;
    const first = result.content[0];
    return { isError: result.isError === true, text: first?.type === 'text' ? first.text : '' };
  }

  beforeAll(async () => {
    server = await startPostgres();
    storeUrl = await server.createDatabase('tenant_data');
    store = await PostgresStore.open(storeUrl, {
      log: silentLogger,
      applicationName: 'tenant-data-pg test',
    });
    await migrate(store, MIGRATIONS);
    // The supervisor's own tables (made by other concerns' migrations): stand-ins where absent.
    await store.query(
      'CREATE TABLE IF NOT EXISTS audit_log (id BIGSERIAL PRIMARY KEY, entry TEXT)',
    );
    await store.query('CREATE TABLE IF NOT EXISTS quota_counters (tenant TEXT PRIMARY KEY, n INT)');
    roles = new TenantDataRoles(store);
  }, 60_000);

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await store?.close();
    server?.stop();
  });

  it('names the same schema, table and SQLSTATE on both sides', () => {
    expect(childSide.SHARED_SCHEMA).toBe(TENANT_DATA_SCHEMA);
    expect(childSide.ENTRIES_TABLE).toBe(ENTRIES_TABLE);
    expect(childSide.FENCED_SQLSTATE).toBe(FENCED_SQLSTATE);
  });

  it('migrates once: a second run applies nothing', async () => {
    expect(await migrate(store, MIGRATIONS)).toEqual([]);
  });

  describe('provisioning', () => {
    it('is idempotent and safe when two nodes do it at once; the last password wins', async () => {
      const other = await PostgresStore.open(storeUrl, {
        log: silentLogger,
        applicationName: 'node 2',
      });
      closers.push(() => other.close());
      const both = await Promise.all([
        roles.credentials('acme'),
        new TenantDataRoles(other).credentials('acme'),
        roles.credentials('globex'),
      ]);
      const [first, second] = both;
      const urls = [first?.[TENANT_STORE_URL_ENV] ?? '', second?.[TENANT_STORE_URL_ENV] ?? ''];
      const failures = await Promise.all(urls.map(signInFailure));
      // Exactly one of the two passwords is the role's now; the other is refused.
      expect(failures.filter((code) => code === undefined)).toHaveLength(1);
      expect(failures.filter((code) => code === '28P01')).toHaveLength(1);

      const again = await roles.credentials('acme');
      const role = new URL(again[TENANT_STORE_URL_ENV] ?? '').username;
      const facts = await store.query(
        `SELECT rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
                rolbypassrls, rolconnlimit,
                (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships
           FROM pg_roles r WHERE rolname = $1`,
        [role],
      );
      expect(facts.rows).toEqual([
        {
          rolcanlogin: true,
          rolinherit: false,
          rolsuper: false,
          rolcreaterole: false,
          rolcreatedb: false,
          rolreplication: false,
          rolbypassrls: false,
          rolconnlimit: 8,
          memberships: 0,
        },
      ]);
      const mapped = await store.query(
        `SELECT tenant, role_name, schema_name FROM ${TENANT_DATA_SCHEMA}.tenants WHERE tenant = 'acme'`,
      );
      expect(mapped.rows).toEqual([{ tenant: 'acme', role_name: role, schema_name: role }]);
      expect(again[TENANT_STORE_SCHEMA_ENV]).toBe(role);
    });

    it("gives the child the tenant role's URL, never the store's own user or password", async () => {
      const env = await roles.credentials('acme');
      const url = new URL(env[TENANT_STORE_URL_ENV] ?? '');
      const storeParsed = new URL(storeUrl);
      expect(url.username).toMatch(/^mcp_[0-9a-f]{6}_acme$/);
      expect(url.username).not.toBe(storeParsed.username);
      expect(url.password).not.toBe(storeParsed.password);
      expect(url.password.length).toBeGreaterThanOrEqual(32);
      expect(url.host).toBe(storeParsed.host);
      expect(url.pathname).toBe('/tenant_data');
      expect(env[TENANT_STORE_URL_ENV]).not.toContain(storeParsed.password);
      // Non-credential settings stay, credentials of the store go.
      const kept = new URL(
        tenantUrl(
          'postgres://sup:pw@db.example:6543/x?sslmode=require&sslkey=/k&sslcert=/c&password=p&user=u',
          'x',
          'r',
          's',
        ),
      );
      expect(kept.href).toBe('postgres://r:s@db.example:6543/x?sslmode=require');
      // A Unix socket named in ?host= (no host in the authority) is kept too.
      expect(tenantUrl('postgres://sup:pw@/x?host=%2Frun%2Fpg', 'x', 'r', 's')).toBe(
        'postgres://r:s@/x?host=%2Frun%2Fpg',
      );
      expect(childSide.describeStoreUrl('postgres://r:s@/x?host=%2Frun%2Fpg')).toBe(
        '/run/pg:5432/x',
      );
    });

    it('cannot sign in with an old password once a start re-provisioned the role', async () => {
      const before = (await roles.credentials('acme'))[TENANT_STORE_URL_ENV] ?? '';
      expect(await signInFailure(before)).toBeUndefined();
      const after = (await roles.credentials('acme'))[TENANT_STORE_URL_ENV] ?? '';
      expect(await signInFailure(before)).toBe('28P01');
      expect(await signInFailure(after)).toBeUndefined();
    });

    it('keeps long tenant ids within 63 bytes and apart from each other', async () => {
      const stem = 'a'.repeat(55);
      const one = `${stem}-one-1`;
      const two = `${stem}-two-2`;
      const [envOne, envTwo] = await Promise.all([roles.credentials(one), roles.credentials(two)]);
      const roleOne = envOne?.[TENANT_STORE_SCHEMA_ENV] ?? '';
      const roleTwo = envTwo?.[TENANT_STORE_SCHEMA_ENV] ?? '';
      expect(Buffer.byteLength(roleOne)).toBeLessThanOrEqual(63);
      expect(roleOne).not.toBe(roleTwo);
      const found = await store.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ANY($1)',
        [[roleOne, roleTwo]],
      );
      expect(found.rows[0]?.n).toBe(2);
      expect(tenantObjectName('abcdef', 'acme')).toBe('mcp_abcdef_acme');
      expect(await signInFailure(envOne?.[TENANT_STORE_URL_ENV] ?? '')).toBeUndefined();
    });

    it('refuses to take over a role it did not make, and takes back memberships granted by hand', async () => {
      const tag = (await roles.credentials('acme'))[TENANT_STORE_SCHEMA_ENV]?.split('_')[1] ?? '';
      await store.query(`CREATE ROLE ${pg.escapeIdentifier(tenantObjectName(tag, 'intruder'))}`);
      const refused = await roles.credentials('intruder').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(McpTenantsError);
      expect((refused as McpTenantsError).message).toMatch(
        /mcp-tenants did not make; it will not take it over/,
      );

      const acme = tenantObjectName(tag, 'acme');
      await store.query(`GRANT pg_read_all_data TO ${pg.escapeIdentifier(acme)}`);
      await roles.credentials('acme');
      const left = await store.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1',
        [acme],
      );
      expect(left.rows[0]?.n).toBe(0);
    });
  });

  it('works for a store user that is no superuser: CREATEROLE, owner of its database', async () => {
    const password = 'a-password-of-the-supervisor';
    await store.query(`CREATE ROLE plain LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(password)}`);
    await store.query('CREATE DATABASE plain_store OWNER plain');
    const url = new URL(storeUrl);
    url.username = 'plain';
    url.password = password;
    url.pathname = '/plain_store';
    const plain = await PostgresStore.open(url.href, {
      log: silentLogger,
      applicationName: 'plain',
    });
    closers.push(() => plain.close());
    await migrate(plain, MIGRATIONS);
    const env = await new TenantDataRoles(plain).credentials('acme');
    // Another database of the same server: a role of its own for the same tenant id.
    expect(env[TENANT_STORE_SCHEMA_ENV]).not.toBe(
      (await roles.credentials('acme'))[TENANT_STORE_SCHEMA_ENV],
    );
    const asAcme = await connectAs(env[TENANT_STORE_URL_ENV] ?? '');
    const schema = pg.escapeIdentifier(env[TENANT_STORE_SCHEMA_ENV] ?? '');
    await asAcme.query('BEGIN');
    await asAcme.query(`SELECT ${TENANT_DATA_SCHEMA}.fence(NULL)`);
    await asAcme.query(`INSERT INTO ${schema}.entries VALUES ('k', 'vv', now(), null)`);
    await asAcme.query('COMMIT');
    expect((await new TenantDataRoles(plain).dataBytes()).get('acme')).toBe(3);
    expect(await failureOf(asAcme, 'SELECT * FROM mcp_leases')).toBe('42501');
  });

  describe("a tenant role's reach", () => {
    it("reads and writes its own table only: not another tenant's, not the supervisor's", async () => {
      const acme = await roles.credentials('acme');
      const globex = await roles.credentials('globex');
      const acmeSchema = pg.escapeIdentifier(acme[TENANT_STORE_SCHEMA_ENV] ?? '');
      const globexSchema = pg.escapeIdentifier(globex[TENANT_STORE_SCHEMA_ENV] ?? '');
      const asAcme = await connectAs(acme[TENANT_STORE_URL_ENV] ?? '');
      const asGlobex = await connectAs(globex[TENANT_STORE_URL_ENV] ?? '');
      await asGlobex.query(
        `INSERT INTO ${globexSchema}.entries VALUES ('plan', 'globex only', now(), null) ON CONFLICT DO NOTHING`,
      );

      // Its own table: what the tenant server needs.
      expect(await failureOf(asAcme, `SELECT count(*) FROM ${acmeSchema}.entries`)).toBeUndefined();
      // Everything else: permission denied (42501).
      const denied = [
        `SELECT * FROM ${globexSchema}.entries`,
        `INSERT INTO ${globexSchema}.entries VALUES ('x', 'x', now(), null)`,
        'SELECT * FROM public.audit_log',
        'SELECT * FROM public.quota_counters',
        'SELECT * FROM public.mcp_leases',
        'SELECT * FROM public.mcp_nodes',
        'SELECT * FROM public.mcp_schema_migrations',
        `SELECT * FROM ${TENANT_DATA_SCHEMA}.tenants`,
        `UPDATE ${TENANT_DATA_SCHEMA}.tenants SET used_bytes = 0`,
        `CREATE TABLE ${acmeSchema}.extra (x int)`,
        'CREATE TABLE public.extra (x int)',
        `TRUNCATE ${acmeSchema}.entries`,
        `UPDATE ${acmeSchema}.entries SET data_key = 'renamed'`,
        `ALTER TABLE ${acmeSchema}.entries DISABLE TRIGGER count_usage`,
        `SET ROLE ${globexSchema}`,
      ];
      for (const sql of denied) expect(await failureOf(asAcme, sql), sql).toBe('42501');

      // Nothing outside its schema, listed from the catalog rather than by name.
      const reachable = await store.query<{ name: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'v', 'm', 'p', 'S')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
            AND n.nspname <> $2
            AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($1, c.oid, 'USAGE,SELECT,UPDATE')
                     ELSE has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                END`,
        [acme[TENANT_STORE_SCHEMA_ENV], acme[TENANT_STORE_SCHEMA_ENV]],
      );
      expect(reachable.rows).toEqual([]);
      // And of the supervisor's functions, only the two made for tenants.
      const callable = await store.query<{ name: string }>(
        `SELECT p.oid::regprocedure::text AS name
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND has_function_privilege($1, p.oid, 'EXECUTE') ORDER BY 1`,
        [acme[TENANT_STORE_SCHEMA_ENV]],
      );
      expect(callable.rows.map((row) => row.name)).toEqual([
        `${TENANT_DATA_SCHEMA}.fence(bigint)`,
        `${TENANT_DATA_SCHEMA}.usage()`,
      ]);
    });

    it("cannot sign in as another tenant's role with its own password", async () => {
      const acme = new URL((await roles.credentials('acme'))[TENANT_STORE_URL_ENV] ?? '');
      const globex = new URL((await roles.credentials('globex'))[TENANT_STORE_URL_ENV] ?? '');
      const mixed = new URL(acme.href);
      mixed.username = globex.username;
      expect(await signInFailure(mixed.href)).toBe('28P01');
      const asSupervisor = new URL(acme.href);
      asSupervisor.username = new URL(storeUrl).username;
      expect(await signInFailure(asSupervisor.href)).toBe('28P01');
    });
  });

  describe('the tenant store in PostgreSQL', () => {
    async function openStore(tenantId: string, maxStorageMb = 16): Promise<PgTenantStore> {
      const env = await roles.credentials(tenantId);
      const opened = await PgTenantStore.open({
        url: env[TENANT_STORE_URL_ENV] ?? '',
        schema: env[TENANT_STORE_SCHEMA_ENV] ?? '',
        tenantId,
        maxStorageMb,
        log: silentLogger,
        now: () => FIXED_NOW,
      });
      closers.push(() => opened.close());
      return opened;
    }

    async function codeOf(work: () => Promise<unknown>): Promise<string | undefined> {
      try {
        await work();
        return undefined;
      } catch (error) {
        if (error instanceof McpTenantsError) return error.code;
        throw error;
      }
    }

    it('sets, gets, overwrites and deletes, with the SQLite file’s validations', async () => {
      const store = await openStore('st-basics');
      expect(await store.set('greeting', 'héllo')).toBe(6);
      expect(await store.get('greeting')).toBe('héllo');
      await store.set('greeting', 'bye');
      expect(await store.get('greeting')).toBe('bye');
      expect(await store.delete('greeting')).toBe(true);
      expect(await store.delete('greeting')).toBe(false);
      expect(await store.get('greeting')).toBeUndefined();
      // U+0000 and astral characters round-trip (values are stored as UTF-8 bytes).
      await store.set('nul', 'a\u0000b😀');
      expect(await store.get('nul')).toBe('a\u0000b😀');
      expect(await codeOf(() => store.set('', 'v'))).toBe(ErrorCode.USAGE);
      expect(await codeOf(() => store.set('x'.repeat(513), 'v'))).toBe(ErrorCode.USAGE);
      expect(await codeOf(() => store.set('tab\there', 'v'))).toBe(ErrorCode.USAGE);
      expect(await codeOf(() => store.set('..', 'v'))).toBe(ErrorCode.USAGE);
      expect(await codeOf(() => store.set('big', 'x'.repeat(MIB + 1)))).toBe(ErrorCode.USAGE);
      expect(await codeOf(() => store.set('x'.repeat(512), 'x'.repeat(MIB)))).toBeUndefined();
      expect(await codeOf(() => store.list({ cursor: 'not base64!', limit: 10 }))).toBe(
        ErrorCode.USAGE,
      );
    });

    it('lists in code point order, pages with a cursor, and treats % and _ literally', async () => {
      const store = await openStore('st-list');
      const keys = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      for (const key of [...keys].reverse()) await store.set(key, key.repeat(2));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ cursor, limit: 10 });
        seen.push(...page.items.map((item) => item.key));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== undefined);
      expect(seen).toEqual(keys);
      expect(pages).toBe(3);
      expect((await store.list({ limit: 1 })).items[0]).toEqual({
        key: 'k00',
        bytes: 6,
        updated_at: FIXED_NOW.toISOString(),
      });

      const other = await openStore('st-prefix');
      for (const key of [
        '50%off',
        '50xoff',
        'a_b',
        'axb',
        'a_c/1',
        'B',
        'é1',
        'é2',
        'ê',
        '😀a',
        '😁',
      ]) {
        await other.set(key, 'v');
      }
      const keysWith = async (prefix: string) =>
        (await other.list({ prefix, limit: 100 })).items.map((item) => item.key);
      expect(await keysWith('50%')).toEqual(['50%off']);
      expect(await keysWith('a_')).toEqual(['a_b', 'a_c/1']);
      expect(await keysWith('%')).toEqual([]);
      expect(await keysWith('é')).toEqual(['é1', 'é2']);
      expect(await keysWith('😀')).toEqual(['😀a']);
      // Byte order: upper case before lower case, then the rest by code point.
      expect(await keysWith('')).toEqual([
        '50%off',
        '50xoff',
        'B',
        'a_b',
        'a_c/1',
        'axb',
        'é1',
        'é2',
        'ê',
        '😀a',
        '😁',
      ]);
    });

    it('refuses a write over the quota, changes nothing, and counts bytes for reports', async () => {
      const store = await openStore('st-quota', 1);
      const chunk = 'x'.repeat(400 * 1024);
      await store.set('a', chunk);
      await store.set('b', chunk);
      const refusal = await store.set('c', chunk).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(McpTenantsError);
      expect((refusal as McpTenantsError).code).toBe(ErrorCode.STORAGE_QUOTA_EXCEEDED);
      expect((refusal as McpTenantsError).message).toMatch(
        /storage quota exceeded for tenant st-quota: .* of 1 MB.*max_storage_mb/,
      );
      expect(await store.get('c')).toBeUndefined();
      expect(await store.sizeBytes()).toBe(2 * (1 + 400 * 1024));
      expect(await store.rowCount()).toBe(2);
      expect((await roles.dataBytes()).get('st-quota')).toBe(2 * (1 + 400 * 1024));
      // Shrinking is always allowed, and deleting makes room.
      expect(await codeOf(() => store.set('a', 'small'))).toBeUndefined();
      expect(await codeOf(() => store.set('c', chunk))).toBeUndefined();
      expect(await store.sizeBytes()).toBe(1 + 5 + 2 * (1 + 400 * 1024));
    });
  });

  describe('the tenant server child', () => {
    it('keeps its data in PostgreSQL: a second child started elsewhere later reads it back', async () => {
      const first = await startChild('mover', await roles.credentials('mover'));
      expect(await call(first, 'data_set', { key: 'notes/50%_off', value: 'héllo' })).toEqual({
        isError: false,
        text: 'stored notes/50%_off (6 bytes)',
      });
      await first.client.callTool({
        name: 'data_set',
        arguments: { key: 'who', value: 'x' },
        _meta: { 'io.mcp-tenants/user_id': 'alice' },
      });
      await first.client.close();

      // Another host: another data folder, a fresh provisioning (new password).
      const elsewhere = tempDir();
      const env = await roles.credentials('mover');
      const second = await startChild('mover', env, { dataDir: elsewhere });
      expect(await call(second, 'data_get', { key: 'notes/50%_off' })).toEqual({
        isError: false,
        text: 'héllo',
      });
      const list = await second.client.callTool({
        name: 'data_list',
        arguments: { prefix: 'notes/' },
      });
      expect(list.structuredContent).toEqual({
        items: [{ key: 'notes/50%_off', bytes: 6, updated_at: expect.any(String) }],
      });
      const { resources } = await second.client.listResources();
      expect(resources.map((resource) => resource.name).sort()).toEqual(['notes/50%_off', 'who']);
      expect(await call(second, 'data_get', { key: 'missing' })).toEqual({
        isError: true,
        text: 'no such key: missing',
      });
      // No SQLite file anywhere, and the password never reached the log.
      expect(readdirSync(join(elsewhere, 'mover'))).toEqual([]);
      const password = new URL(env[TENANT_STORE_URL_ENV] ?? '').password;
      expect(second.stderr()).not.toContain(password);
      expect(second.stderr()).toContain('tenant server ready');
      const by = await store.query(
        `SELECT updated_by FROM ${pg.escapeIdentifier(env[TENANT_STORE_SCHEMA_ENV] ?? '')}.entries WHERE data_key = 'who'`,
      );
      expect(by.rows).toEqual([{ updated_by: 'alice' }]);
    });

    it('holds the storage quota with two children of the tenant writing at once', async () => {
      const first = await startChild('twins', await roles.credentials('twins'), {
        maxStorageMb: 1,
      });
      // The first child is connected; the second start gives the role a new password.
      expect((await call(first, 'data_list', {})).isError).toBe(false);
      const second = await startChild('twins', await roles.credentials('twins'), {
        maxStorageMb: 1,
      });
      const chunk = 'x'.repeat(300 * 1024);
      const writes = [first, second].flatMap((child, c) =>
        Array.from({ length: 4 }, (_, i) =>
          call(child, 'data_set', { key: `c${c}-${i}`, value: chunk }),
        ),
      );
      const results = await Promise.all(writes);
      const stored = results.filter((result) => !result.isError);
      const refused = results.filter((result) => result.isError);
      // 3 × (300 KiB + key) fit in 1 MiB, 4 do not.
      expect(stored).toHaveLength(3);
      expect(refused).toHaveLength(5);
      for (const result of refused) {
        expect(result.text).toMatch(/^storage quota exceeded for tenant twins: .*max_storage_mb/);
      }
      const bytes = (await roles.dataBytes()).get('twins') ?? 0;
      expect(bytes).toBe(3 * (4 + 300 * 1024));
      expect(bytes).toBeLessThanOrEqual(MIB);
    });

    it('refuses writes once the lease epoch moved on, and still reads', async () => {
      const env = await roles.credentials('fenced');
      await store.query(
        `INSERT INTO mcp_leases (tenant, node_id, epoch, expires_at) VALUES ('fenced', 'node-a', 7, now() + interval '1 minute')`,
      );
      const child = await startChild('fenced', { ...env, [LEASE_EPOCH_ENV]: '7' });
      expect((await call(child, 'data_set', { key: 'k', value: 'before' })).isError).toBe(false);

      // A takeover: another node bumps the epoch.
      await store.query(
        `UPDATE mcp_leases SET node_id = 'node-b', epoch = epoch + 1 WHERE tenant = 'fenced'`,
      );
      const refusal =
        'this instance no longer owns tenant fenced; retry: another node serves it now';
      expect(await call(child, 'data_set', { key: 'k', value: 'after' })).toEqual({
        isError: true,
        text: refusal,
      });
      expect(await call(child, 'data_delete', { key: 'k' })).toEqual({
        isError: true,
        text: refusal,
      });
      expect(await call(child, 'data_get', { key: 'k' })).toEqual({
        isError: false,
        text: 'before',
      });
      expect(isAlive(child.pid)).toBe(true);

      // The new owner's child writes.
      const next = await startChild('fenced', {
        ...(await roles.credentials('fenced')),
        [LEASE_EPOCH_ENV]: '8',
      });
      expect((await call(next, 'data_set', { key: 'k', value: 'after' })).isError).toBe(false);
      expect(await call(next, 'data_get', { key: 'k' })).toEqual({ isError: false, text: 'after' });
    });

    it('reconnects when its connection is cut, within the same tool call', async () => {
      const child = await startChild('cut', await roles.credentials('cut'));
      expect((await call(child, 'data_set', { key: 'k', value: 'one' })).isError).toBe(false);
      const name = 'mcp-tenants child cut';
      const cut = await store.query<{ gone: boolean }>(
        'SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity WHERE application_name = $1',
        [name],
      );
      expect(cut.rows).toEqual([{ gone: true }]);
      await waitFor(
        async () =>
          (await store.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [name]))
            .rowCount === 0 || undefined,
        5_000,
        "the child's backend to end",
      );
      expect(await call(child, 'data_set', { key: 'k', value: 'two' })).toEqual({
        isError: false,
        text: 'stored k (3 bytes)',
      });
      expect(await call(child, 'data_get', { key: 'k' })).toEqual({ isError: false, text: 'two' });
      expect(isAlive(child.pid)).toBe(true);
    });

    it('answers a write in progress when stdin ends, then exits 0', async () => {
      const env = await roles.credentials('closing');
      const plan = spawnPlan(tenantConfig({ id: 'closing' }), tempDir());
      const child = spawn(plan.command, plan.args, {
        cwd: plan.cwd,
        env: { ...plan.env, ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      closers.push(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
      });
      const lines = [
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'raw', version: '0' },
          },
        },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'data_set', arguments: { key: 'last', value: 'words' } },
        },
      ];
      child.stdin.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
      expect(await exited).toBe(0);
      const answer = out
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { id?: number; result?: CallToolResult })
        .find((message) => message.id === 2);
      expect(answer?.result?.content).toEqual([{ type: 'text', text: 'stored last (5 bytes)' }]);
      const stored = await store.query(
        `SELECT convert_from(value, 'UTF8') AS v FROM ${pg.escapeIdentifier(env[TENANT_STORE_SCHEMA_ENV] ?? '')}.entries`,
      );
      expect(stored.rows).toEqual([{ v: 'words' }]);
    });

    it('says clearly when the store is unreachable, and keeps running', async () => {
      const env = await roles.credentials('lonely');
      const url = new URL(env[TENANT_STORE_URL_ENV] ?? '');
      url.port = '1'; // nothing listens there
      const child = await startChild('lonely', { ...env, [TENANT_STORE_URL_ENV]: url.href });
      const started = Date.now();
      const set = await call(child, 'data_set', { key: 'k', value: 'v' });
      expect(set.isError).toBe(true);
      expect(set.text).toMatch(
        /^the tenant data store \(127\.0\.0\.1:1\/tenant_data\) is unreachable \(.*\); nothing was changed: retry in a moment$/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await call(child, 'data_get', { key: 'k' })).text).toMatch(/is unreachable/);
      expect(isAlive(child.pid)).toBe(true);
      expect(child.stderr()).not.toContain(url.password);
    });
  });

  describe('the fence', () => {
    it('makes a takeover wait for a write in progress, and refuses the stale owner after it', async () => {
      const env = await roles.credentials('racer');
      const schema = pg.escapeIdentifier(env[TENANT_STORE_SCHEMA_ENV] ?? '');
      await store.query(
        `INSERT INTO mcp_leases (tenant, node_id, epoch, expires_at) VALUES ('racer', 'node-a', 1, now() + interval '1 minute')`,
      );
      const tenant = await connectAs(env[TENANT_STORE_URL_ENV] ?? '');
      const takeover = await connectAs(storeUrl);
      const takeoverPid = (await takeover.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
        .rows[0]?.pid;

      await tenant.query('BEGIN');
      await tenant.query(`SELECT ${TENANT_DATA_SCHEMA}.fence(1)`);
      await tenant.query(`INSERT INTO ${schema}.entries VALUES ('k', 'v', now(), null)`);
      let takenOver = false;
      const bump = takeover
        .query(`UPDATE mcp_leases SET node_id = 'node-b', epoch = epoch + 1 WHERE tenant = 'racer'`)
        .then(() => {
          takenOver = true;
        });
      // The takeover waits on the lease row's lock until the write commits.
      await waitFor(
        async () => {
          const waiting = await store.query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
            [takeoverPid],
          );
          return waiting.rowCount === 1 || undefined;
        },
        5_000,
        'the takeover to wait for the lease row',
      );
      expect(takenOver).toBe(false);
      await tenant.query('COMMIT');
      await bump;
      expect(takenOver).toBe(true);

      // The acknowledged write is there; the stale owner's next write is refused.
      const kept = await store.query(
        `SELECT convert_from(value, 'UTF8') AS v FROM ${schema}.entries`,
      );
      expect(kept.rows).toEqual([{ v: 'v' }]);
      await tenant.query('BEGIN');
      const stale = await failureOf(tenant, `SELECT ${TENANT_DATA_SCHEMA}.fence(1)`);
      await tenant.query('ROLLBACK');
      expect(stale).toBe(FENCED_SQLSTATE);
      await tenant.query('BEGIN');
      expect(await failureOf(tenant, `SELECT ${TENANT_DATA_SCHEMA}.fence(2)`)).toBeUndefined();
      await tenant.query('ROLLBACK');
      // No lease at all: refused too.
      await store.query("DELETE FROM mcp_leases WHERE tenant = 'racer'");
      expect(await failureOf(tenant, `SELECT ${TENANT_DATA_SCHEMA}.fence(2)`)).toBe(
        FENCED_SQLSTATE,
      );
    });
  });
});
