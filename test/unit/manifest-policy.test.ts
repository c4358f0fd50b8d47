import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSPKI, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { McpTenantsError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/manifest/load.js';

const auth = ['auth:', `  secret: ${'s'.repeat(40)}`];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-policy-manifest-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const parse = (lines: string[]) => parseManifest(`${lines.join('\n')}\n`, 'my.yaml', dir, {});

function messageOf(lines: string[]): string {
  try {
    parse(lines);
  } catch (error) {
    expect(error).toBeInstanceOf(McpTenantsError);
    return (error as McpTenantsError).message;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('policy, quotas and issuer keys in the manifest', () => {
  it('merges allow/deny lists key by key from defaults, and resolves module paths', () => {
    const manifest = parse([
      ...auth,
      'defaults:',
      '  tools: { deny: [data_delete] }',
      '  quotas: { max_tool_calls_per_day: 100, max_queue: 4 }',
      'tenants:',
      '  acme:',
      '    tools: { allow: ["data_*"] }',
      '    prompts: { deny: ["*"] }',
      '    tools_modules: [./tools/acme.mjs]',
      '    quotas: { max_requests_per_minute_per_user: 10, max_tool_calls_per_month: 1000 }',
      '  globex: {}',
    ]);
    const acme = manifest.tenants.get('acme');
    expect(acme?.policy).toEqual({
      tools: { allow: ['data_*'], deny: ['data_delete'] },
      resources: { allow: ['*'], deny: [] },
      prompts: { allow: ['*'], deny: ['*'] },
    });
    expect(acme?.tools_modules).toEqual([join(dir, 'tools', 'acme.mjs')]);
    expect(acme?.quotas).toMatchObject({
      max_tool_calls_per_day: 100,
      max_tool_calls_per_month: 1000,
      max_requests_per_minute_per_user: 10,
      max_queue: 4,
    });
    expect(manifest.tenants.get('globex')?.policy.tools).toEqual({
      allow: ['*'],
      deny: ['data_delete'],
    });
    expect(manifest.tenants.get('globex')?.quotas.max_requests_per_minute_per_user).toBeUndefined();
  });

  it('refuses tool modules for a tenant with its own command, and globs with spaces', () => {
    expect(
      messageOf([
        ...auth,
        'tenants:',
        '  files:',
        '    command: npx',
        '    tools_modules: [./x.mjs]',
      ]),
    ).toBe(
      'my.yaml:6 tenants.files.tools_modules: tools_modules are loaded by the built-in tenant server; a tenant with its own command adds tools in its own server',
    );
    expect(messageOf([...auth, 'tenants:', '  acme:', '    tools: { deny: ["data set"] }'])).toBe(
      'my.yaml:5 tenants.acme.tools.deny[0]: a glob is a non-empty name without spaces, like data_* or * (got "data set")',
    );
    expect(messageOf([...auth, 'tenants:', '  acme:', '    quotas: { max_queue: -1 }'])).toBe(
      'my.yaml:5 tenants.acme.quotas.max_queue: expected a whole number, 0 or more (got -1)',
    );
  });

  it('reads PEM public keys, and refuses a file that is not one', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(join(dir, 'issuer.pem'), await exportSPKI(publicKey));
    writeFileSync(join(dir, 'junk.pem'), 'not a key');
    const manifest = parse([...auth, '  public_key_file: ./issuer.pem', 'tenants: {}']);
    expect(manifest.auth.public_keys).toEqual([
      { source: join(dir, 'issuer.pem'), pem: expect.stringContaining('BEGIN PUBLIC KEY') },
    ]);
    expect(
      messageOf([...auth, '  public_key_file: [./issuer.pem, ./junk.pem]', 'tenants: {}']),
    ).toBe(
      `my.yaml:3 auth.public_key_file: ${join(dir, 'junk.pem')} is not a PEM public key or certificate (expected -----BEGIN PUBLIC KEY-----)`,
    );
  });

  it('takes a JWKS URL over https, or plain http on loopback only', () => {
    const manifest = parse([...auth, '  jwks_url: https://id.example/jwks.json', 'tenants: {}']);
    expect(manifest.auth.jwks).toEqual({
      url: 'https://id.example/jwks.json',
      timeout_ms: 5000,
      cooldown_ms: 30000,
    });
    expect(parse([...auth, '  jwks_url: http://127.0.0.1:9/k', 'tenants: {}']).auth.jwks?.url).toBe(
      'http://127.0.0.1:9/k',
    );
    expect(messageOf([...auth, '  jwks_url: http://id.example/jwks.json', 'tenants: {}'])).toBe(
      'my.yaml:3 auth.jwks_url: expected an https:// URL (plain http only on a loopback address, for testing)',
    );
  });
});
