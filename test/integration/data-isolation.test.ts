import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpTenantsError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { connectHttp, INITIALIZE, rawPost, textOf } from '../helpers/mcp-client.js';
import {
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const SECRET = 'a-secret-for-the-isolation-tests-32-bytes+';

describe('data isolation: tenant ids', () => {
  it('refuses every tenant id that could name a path outside its folder', () => {
    for (const id of [
      '../globex',
      'a/b',
      '..',
      '.hidden',
      'acme/..',
      'ACME',
      'a\\b',
      ' acme',
      'x'.repeat(64),
      '-acme',
      'acme\u0000',
    ]) {
      const text = `auth: { secret: "${SECRET}" }\ntenants:\n  ${JSON.stringify(id)}: {}\n`;
      let error: unknown;
      try {
        parseManifest(text, 'tenants.yaml', '/nonexistent');
      } catch (caught) {
        error = caught;
      }
      expect(error, id).toBeInstanceOf(McpTenantsError);
      expect((error as McpTenantsError).message).toMatch(/^tenants\.yaml:3 .*invalid tenant id/);
    }
  });
});

describe('data isolation: keys, resource URIs, links and file modes', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let acme: Client;
  let globex: Client;
  const data = () => join(workspace.dir, 'data');
  const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  beforeAll(async () => {
    workspace = createWorkspace({ acme: {}, globex: {}, initech: {}, umbrella: {}, hooli: {} });
    serve = await startServe(workspace.manifestPath);
    acme = await connectHttp(serve.url, await workspace.token('acme'));
    globex = await connectHttp(serve.url, await workspace.token('globex'));
    await globex.callTool({ name: 'data_set', arguments: { key: 'plan', value: 'globex only' } });
  });

  afterAll(async () => {
    await Promise.allSettled([acme?.close(), globex?.close()]);
    // Guarded: when beforeAll failed, its error is the one to see, and the folder still goes.
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  it('treats path-like keys as plain keys inside the tenant’s own database', async () => {
    const keys = ['../globex/tenant.db', '../../etc/passwd', '/etc/shadow', '..\\..\\boot.ini'];
    for (const key of keys) {
      const stored = await acme.callTool({ name: 'data_set', arguments: { key, value: 'k' } });
      expect(stored.isError, key).toBeFalsy();
      expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key } }))).toBe('k');
    }
    // Nothing appeared outside acme's own files; globex sees none of it.
    expect(readdirSync(join(data(), 'acme')).sort()).toEqual(expect.arrayContaining(['tenant.db']));
    expect(readdirSync(join(data(), 'acme')).every((name) => name.startsWith('tenant.db'))).toBe(
      true,
    );
    const listed = textOf(await globex.callTool({ name: 'data_list', arguments: {} }));
    expect(listed).not.toMatch(/passwd|shadow|tenant\.db|boot/);
    const miss = await acme.callTool({ name: 'data_get', arguments: { key: '../globex/plan' } });
    expect(miss.isError).toBe(true);
  });

  it('serves resource URIs of the tenant’s own keys only', async () => {
    const refusals: [string, RegExp][] = [
      ['tenant://globex/data/plan', /does not belong to tenant acme/],
      ['tenant://acme/data/..%2F..%2Fglobex%2Fdata%2Fplan', /no such key/],
      // URL normalisation drops the dot segments; what is left names no resource.
      [
        'tenant://acme/../globex/data/plan',
        /-32602: Resource tenant:\/\/acme\/globex\/data\/plan not found/,
      ],
      ['tenant://acme/data/%2E%2E/plan', /-32602: Resource tenant:\/\/acme\/plan not found/],
      ['file:///etc/passwd', /-32602: Resource file:\/\/\/etc\/passwd not found/],
      [
        `file://${join(data(), 'globex', 'tenant.db')}`,
        /-32602: Resource file:\/\/\/.*\/globex\/tenant\.db not found/,
      ],
    ];
    for (const [uri, message] of refusals) {
      await expect(acme.readResource({ uri }), uri).rejects.toThrow(message);
    }
    const own = await globex.readResource({ uri: 'tenant://globex/data/plan' });
    expect(own.contents[0]).toMatchObject({ text: 'globex only' });
  });

  it('refuses a tenant.db (or its WAL) planted as a link to another tenant’s file', async () => {
    const target = join(data(), 'globex', 'tenant.db');
    const before = digest(target);
    mkdirSync(join(data(), 'initech'), { mode: 0o700 });
    symlinkSync(target, join(data(), 'initech', 'tenant.db'));
    mkdirSync(join(data(), 'umbrella'), { mode: 0o700 });
    symlinkSync(`${target}-wal`, join(data(), 'umbrella', 'tenant.db-wal'));
    for (const tenant of ['initech', 'umbrella']) {
      const response = await rawPost(serve.url, INITIALIZE, {
        authorization: `Bearer ${await workspace.token(tenant)}`,
      });
      expect(response.status, tenant).toBe(503);
      expect(JSON.stringify(response.body)).toMatch(/exited during initialize/);
    }
    expect(serve.stderr()).toMatch(/initech\/tenant\.db is a symbolic link/);
    expect(serve.stderr()).toMatch(/umbrella\/tenant\.db-wal is a symbolic link/);
    // globex's file was neither read through the link nor changed; globex carries on.
    expect(digest(target)).toBe(before);
    expect(textOf(await globex.callTool({ name: 'data_get', arguments: { key: 'plan' } }))).toBe(
      'globex only',
    );
  });

  it('refuses a tenant folder planted as a link to another tenant’s folder', async () => {
    symlinkSync(join(data(), 'globex'), join(data(), 'hooli'));
    const response = await rawPost(serve.url, INITIALIZE, {
      authorization: `Bearer ${await workspace.token('hooli')}`,
    });
    expect(response.status).toBe(503);
    expect(JSON.stringify(response.body)).toMatch(/not a folder of its own/);
    expect(textOf(await globex.callTool({ name: 'data_get', arguments: { key: 'plan' } }))).toBe(
      'globex only',
    );
  });

  it('keeps data folders 0700 and database files 0600', async () => {
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(mode(data())).toBe(0o700);
    for (const tenant of ['acme', 'globex']) {
      expect(mode(join(data(), tenant)), tenant).toBe(0o700);
      for (const name of readdirSync(join(data(), tenant))) {
        expect(mode(join(data(), tenant, name)), `${tenant}/${name}`).toBe(0o600);
      }
    }
    for (const name of readdirSync(data()).filter((entry) => entry.startsWith('mcp-tenants.db'))) {
      expect(mode(join(data(), name)), name).toBe(0o600);
    }
  });
});
