// biome-ignore-all lint/suspicious/noTemplateCurlyInString: manifests spell ${VAR} references literally
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_AUDIT,
  DEFAULT_POLICY,
  DEFAULT_QUOTAS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SERVER,
} from '../../src/core/config.js';
import { parseManifest } from '../../src/manifest/load.js';

const SECRET = 's'.repeat(40);

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('parseManifest: a good manifest', () => {
  it('applies built-in defaults, then defaults:, then the tenant, key by key', () => {
    const manifest = parseManifest(
      yaml(
        'server:',
        '  port: 0',
        '  data_dir: ./state',
        'auth:',
        `  secret: ${SECRET}`,
        '  issuer: https://issuer.example',
        'defaults:',
        '  quotas: { max_tools: 10, max_storage_mb: 50 }',
        '  limits: { memory_mb: 512, cpu: 1 }',
        '  request_timeout_ms: 5000',
        'tenants:',
        '  acme:',
        '    name: Acme Corp',
        '    quotas: { max_tools: 20 }',
        '    limits: { cpu: 0.5, open_files: 256 }',
        '  globex:',
        '    command: node',
        '    args: [server.js, --port, 8080]',
        '    env: { API_KEY: abc, VERSION: 1.10, DEBUG: true }',
        '    request_timeout_ms: 100',
        '  bare:',
      ),
      'my.yaml',
      '/srv/app',
      {},
    );
    expect(manifest.path).toBe('/srv/app/my.yaml');
    expect(manifest.server).toEqual({
      ...DEFAULT_SERVER,
      port: 0,
      data_dir: '/srv/app/state',
      store: { kind: 'sqlite' },
    });
    expect(manifest.auth).toEqual({
      secret: SECRET,
      issuer: 'https://issuer.example',
      audience: undefined,
      resource: undefined,
      authorization_servers: undefined,
      scopes_supported: undefined,
      claims: { tenant: 'tenant_id', permissions: 'permissions' },
    });
    expect([...manifest.tenants.keys()]).toEqual(['acme', 'globex', 'bare']);

    expect(manifest.tenants.get('acme')).toEqual({
      id: 'acme',
      name: 'Acme Corp',
      command: undefined,
      args: [],
      env: {},
      quotas: { ...DEFAULT_QUOTAS, max_tools: 20, max_storage_mb: 50 },
      limits: { memory_mb: 512, cpu: 0.5, open_files: 256 },
      request_timeout_ms: 5000,
      isolation: 'tenant',
      max_sessions: 16,
      max_instances: 1,
      idle_timeout_ms: 600_000,
      eager: false,
      start_timeout_ms: 30_000,
      audit: DEFAULT_AUDIT,
      policy: DEFAULT_POLICY,
      tools_modules: [],
    });
    const globex = manifest.tenants.get('globex');
    expect(globex?.name).toBe('globex');
    expect(globex?.command).toBe('node');
    expect(globex?.args).toEqual(['server.js', '--port', '8080']);
    // Non-string scalars keep their spelling from the file.
    expect(globex?.env).toEqual({ API_KEY: 'abc', VERSION: '1.10', DEBUG: 'true' });
    expect(globex?.request_timeout_ms).toBe(100);
    expect(manifest.tenants.get('bare')?.quotas).toEqual({
      ...DEFAULT_QUOTAS,
      max_tools: 10,
      max_storage_mb: 50,
    });
  });

  it('uses every default when sections are absent, and accepts an empty tenants map', () => {
    const manifest = parseManifest(
      yaml('auth:', `  secret: ${SECRET}`, 'tenants: {}'),
      'm.yaml',
      '/x',
      {},
    );
    expect(manifest.server).toEqual({
      ...DEFAULT_SERVER,
      data_dir: '/x/data',
      store: { kind: 'sqlite' },
    });
    expect(manifest.cluster).toEqual({
      lease_ms: 10_000,
      advertise_url: undefined,
      key: undefined,
    });
    expect(manifest.tenants.size).toBe(0);
  });

  it('gives a tenant with no settings the built-in server and default quotas', () => {
    const manifest = parseManifest(
      yaml('auth:', `  secret: ${SECRET}`, 'tenants:', '  solo: {}'),
      'm.yaml',
      '/x',
      {},
    );
    expect(manifest.tenants.get('solo')).toEqual({
      id: 'solo',
      name: 'solo',
      command: undefined,
      args: [],
      env: {},
      quotas: DEFAULT_QUOTAS,
      limits: {},
      request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
      isolation: 'tenant',
      max_sessions: 16,
      max_instances: 1,
      idle_timeout_ms: 600_000,
      eager: false,
      start_timeout_ms: 30_000,
      audit: DEFAULT_AUDIT,
      policy: DEFAULT_POLICY,
      tools_modules: [],
    });
  });

  it('reads min_instances: 1 as eager: a warm child that never idles out', () => {
    const manifest = parseManifest(
      yaml(
        'auth:',
        `  secret: ${SECRET}`,
        'tenants:',
        '  warm: { min_instances: 1 }',
        '  cold: {}',
      ),
      'm.yaml',
      '/x',
      {},
    );
    expect(manifest.tenants.get('warm')).toMatchObject({ eager: true, idle_timeout_ms: 0 });
    expect(manifest.tenants.get('cold')).toMatchObject({ eager: false, idle_timeout_ms: 600_000 });
  });
});

describe('parseManifest: environment expansion', () => {
  const base = (secretLine: string, ...rest: string[]) =>
    yaml(
      'auth:',
      `  secret: ${secretLine}`,
      ...rest,
      'tenants:',
      '  acme:',
      '    env: { KEY: "${ACME_KEY:-none}" }',
    );

  it('expands ${VAR} in string values', () => {
    const manifest = parseManifest(base('${SECRET}'), 'm.yaml', '/x', { SECRET, ACME_KEY: 'k1' });
    expect(manifest.auth.secret).toBe(SECRET);
    expect(manifest.tenants.get('acme')?.env).toEqual({ KEY: 'k1' });
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty', () => {
    expect(parseManifest(base(SECRET), 'm.yaml', '/x', {}).tenants.get('acme')?.env).toEqual({
      KEY: 'none',
    });
    expect(
      parseManifest(base(SECRET), 'm.yaml', '/x', { ACME_KEY: '' }).tenants.get('acme')?.env,
    ).toEqual({ KEY: 'none' });
  });

  it('turns $${ into a literal ${', () => {
    const manifest = parseManifest(base(`"$\${NOT_A_VAR}${SECRET}"`), 'm.yaml', '/x', {});
    expect(manifest.auth.secret).toBe(`\${NOT_A_VAR}${SECRET}`);
  });

  it('accepts a number that comes from the environment in a numeric field', () => {
    const text = base(SECRET, 'server:', '  port: ${PORT:-7800}', '  host: ${HOST:-0.0.0.0}');
    expect(parseManifest(text, 'm.yaml', '/x', {}).server.port).toBe(7800);
    const manifest = parseManifest(text, 'm.yaml', '/x', { PORT: '9001', HOST: '::1' });
    expect(manifest.server.port).toBe(9001);
    expect(manifest.server.host).toBe('::1');
  });

  it('does not expand keys', () => {
    const text = yaml(
      'auth:',
      `  secret: ${SECRET}`,
      'tenants:',
      '  acme:',
      '    env:',
      '      ${X}: v',
    );
    // Expanded, the key would be the valid name EXPANDED; literal, it is not a valid name.
    expect(() => parseManifest(text, 'm.yaml', '/x', { X: 'EXPANDED' })).toThrow(
      'm.yaml:6 tenants.acme.env["${X}"]: environment variable names are',
    );
  });
});
