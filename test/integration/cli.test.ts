import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/verify.js';
import { loadManifest } from '../../src/manifest/load.js';
import { connectHttp, textOf } from '../helpers/mcp-client.js';
import { runCli, startServe } from '../helpers/serve-process.js';

const cli = runCli;

describe('the CLI, as a user drives it', () => {
  let dir: string;
  let manifest: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-cli-'));
    manifest = join(dir, 'my.yaml');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('init → add-tenant → token → serve works out of the box', async () => {
    expect(cli(['init', '-m', manifest]).code).toBe(0);
    expect(statSync(manifest).mode & 0o777).toBe(0o600);
    const added = cli([
      'add-tenant',
      'acme',
      '-m',
      manifest,
      '--name',
      'Acme Corp',
      '--max-requests-per-minute',
      '120',
      '--cpu',
      '0.5',
    ]);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const loaded = loadManifest(manifest);
    expect(loaded.tenants.get('acme')).toMatchObject({
      name: 'Acme Corp',
      quotas: { max_requests_per_minute: 120 },
      limits: { cpu: 0.5 },
    });

    const token = cli(['token', 'acme', '-m', manifest, '--user', 'alice', '--ttl', '10m']);
    expect(token.code).toBe(0);
    expect(token.stdout.trim().split('\n')).toHaveLength(1);
    const context = await new TokenVerifier(loaded.auth).verify(token.stdout.trim());
    expect(context).toMatchObject({ tenantId: 'acme', userId: 'alice', isOperator: false });
    expect(context.permissions).toEqual(['tools:*', 'resources:*', 'prompts:*']);

    const serve = await startServe(manifest);
    try {
      const client = await connectHttp(serve.url, token.stdout.trim());
      await client.callTool({ name: 'data_set', arguments: { key: 'a', value: 'b' } });
      expect(textOf(await client.callTool({ name: 'data_get', arguments: { key: 'a' } }))).toBe(
        'b',
      );
      await client.close();
      expect(statSync(join(dir, 'data', 'acme')).mode & 0o777).toBe(0o700);
    } finally {
      expect((await serve.stop()).survivors).toEqual([]);
    }
  });

  it('init writes a different strong secret every time and refuses to overwrite', () => {
    cli(['init', '-m', manifest]);
    const other = join(dir, 'other.yaml');
    cli(['init', '-m', other]);
    const first = loadManifest(manifest).auth.secret;
    expect(Buffer.byteLength(first)).toBeGreaterThanOrEqual(32);
    expect(first).not.toBe(loadManifest(other).auth.secret);
    const again = cli(['init', '-m', manifest]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a duplicate or invalid tenant id with one line, leaving the file untouched', () => {
    cli(['init', '-m', manifest]);
    cli(['add-tenant', 'acme', '-m', manifest]);
    const before = readFileSync(manifest, 'utf8');
    for (const id of ['acme', 'Bad/Id', '../escape']) {
      const refused = cli(['add-tenant', id, '-m', manifest]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/^mcp-tenants: /);
      expect(readFileSync(manifest, 'utf8')).toBe(before);
    }
  });

  it('prints an operator token with no tenant', () => {
    cli(['init', '-m', manifest]);
    const token = cli(['token', '--operator', '-m', manifest]);
    expect(token.code).toBe(0);
    const claims = decodeJwt(token.stdout.trim());
    expect(claims.tenant_id).toBeUndefined();
    expect(claims.permissions).toEqual(['operator']);
  });

  it('refuses tokens for unknown tenants and bad durations', () => {
    cli(['init', '-m', manifest]);
    const unknown = cli(['token', 'nobody', '-m', manifest, '--user', 'a']);
    expect(unknown.code).toBe(5);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/tenant "nobody" is not in/);
    cli(['add-tenant', 'acme', '-m', manifest]);
    const badTtl = cli(['token', 'acme', '-m', manifest, '--ttl', 'forever']);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toMatch(/invalid duration/);
  });

  it('explains a missing or broken manifest in one line', () => {
    const missing = cli(['serve', '-m', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/mcp-tenants init/);
  });

  it('has --help on every command', () => {
    for (const command of ['init', 'serve', 'add-tenant', 'token', 'child']) {
      const help = cli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Usage: mcp-tenants ${command}`));
    }
  });
});
