// biome-ignore-all lint/suspicious/noTemplateCurlyInString: manifests spell ${VAR} references literally
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/core/errors.js';
import { addTenant, removeTenant } from '../../src/manifest/edit.js';
import { loadManifest } from '../../src/manifest/load.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-edit-'));
  path = join(dir, 'my.yaml');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const SECRET = 's'.repeat(40);
const read = (): string => readFileSync(path, 'utf8');

const ORIGINAL = `# Top comment stays.
server:
  port: 7900        # aligned comment stays aligned
auth:
  secret: \${MCP_TENANTS_SECRET}

tenants:
  # Acme is our first customer.
  acme:
    name: Acme Corp   # trailing comment

  globex:
    quotas: { max_tools: 5 }

# after tenants
`;

describe('addTenant', () => {
  it('appends the tenant and leaves every other byte of the file alone', () => {
    writeFileSync(path, ORIGINAL);
    chmodSync(path, 0o640);
    addTenant(
      path,
      {
        id: 'initech',
        name: 'Initech',
        command: 'node',
        args: ['server.js', '--port', '8080'],
        env: { API_KEY: '${INITECH_KEY}' },
        quotas: { max_requests_per_minute: 10 },
        limits: { cpu: 0.5 },
        request_timeout_ms: 1000,
      },
      {},
    );
    const expected = ORIGINAL.replace(
      '  globex:\n    quotas: { max_tools: 5 }\n',
      `  globex:
    quotas: { max_tools: 5 }

  initech:
    name: Initech
    command: node
    args: [ server.js, --port, "8080" ]
    env:
      API_KEY: \${INITECH_KEY}
    quotas: { max_requests_per_minute: 10 }
    limits: { cpu: 0.5 }
    request_timeout_ms: 1000
`,
    );
    expect(read()).toBe(expected);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['my.yaml']); // no temp file left behind

    const manifest = loadManifest(path, { MCP_TENANTS_SECRET: SECRET, INITECH_KEY: 'k' });
    const initech = manifest.tenants.get('initech');
    expect(initech?.args).toEqual(['server.js', '--port', '8080']);
    expect(initech?.env).toEqual({ API_KEY: 'k' });
    expect(initech?.quotas.max_requests_per_minute).toBe(10);
  });

  it('turns `tenants: {}` into a block map, keeping its comment', () => {
    writeFileSync(path, `auth:\n  secret: ${SECRET}\ntenants: {}  # none yet\n`);
    addTenant(path, { id: 'one' }, {});
    addTenant(path, { id: 'two', name: 'Two' }, {});
    expect(read()).toBe(
      `auth:\n  secret: ${SECRET}\ntenants:  # none yet\n  one: {}\n  two:\n    name: Two\n`,
    );
  });

  it('creates the tenants map when it is missing', () => {
    writeFileSync(path, `auth:\n  secret: ${SECRET}`);
    addTenant(path, { id: 'one' }, {});
    expect(read()).toBe(`auth:\n  secret: ${SECRET}\n\ntenants:\n  one: {}\n`);
    expect([...loadManifest(path, {}).tenants.keys()]).toEqual(['one']);
  });

  it('adds to and removes from a flow-style tenants map too', () => {
    writeFileSync(path, `auth: { secret: ${SECRET} }\ntenants: { a: {} }\n`);
    addTenant(path, { id: 'b', quotas: { max_tools: 3 } }, {});
    expect(loadManifest(path, {}).tenants.get('b')?.quotas.max_tools).toBe(3);
    removeTenant(path, 'a', {});
    expect([...loadManifest(path, {}).tenants.keys()]).toEqual(['b']);
  });

  it('refuses a duplicate id and leaves the file byte-identical', () => {
    writeFileSync(path, ORIGINAL);
    expect(() => addTenant(path, { id: 'acme' }, {})).toThrow(
      expect.objectContaining({
        code: ErrorCode.TENANT_EXISTS,
        message: `tenant acme already exists in ${path}`,
      }),
    );
    expect(read()).toBe(ORIGINAL);
  });

  it('refuses an invalid id, showing the pattern, and leaves the file byte-identical', () => {
    writeFileSync(path, ORIGINAL);
    expect(() => addTenant(path, { id: 'Bad Id' }, {})).toThrow(
      expect.objectContaining({
        code: ErrorCode.USAGE,
        message: expect.stringContaining('^[a-z0-9][a-z0-9_-]{0,62}$'),
      }),
    );
    expect(read()).toBe(ORIGINAL);
  });

  it('refuses invalid settings as a usage error', () => {
    writeFileSync(path, ORIGINAL);
    expect(() => addTenant(path, { id: 'x', quotas: { max_tools: 0 }, args: ['a'] }, {})).toThrow(
      expect.objectContaining({
        code: ErrorCode.USAGE,
        message: expect.stringContaining('quotas.max_tools: expected a positive integer (got 0)'),
      }),
    );
    expect(read()).toBe(ORIGINAL);
  });

  it('refuses to edit a manifest that is already invalid, reporting its lines', () => {
    const broken = ORIGINAL.replace('port: 7900', 'prot: 7900');
    writeFileSync(path, broken);
    expect(() => addTenant(path, { id: 'new' }, {})).toThrow(
      `${path}:3 server.prot: unknown key "prot" (did you mean port?)`,
    );
    expect(read()).toBe(broken);
  });
});

describe('removeTenant', () => {
  it('removes the entry with its comments and separating blank line', () => {
    writeFileSync(path, ORIGINAL);
    removeTenant(path, 'acme', {});
    expect(read()).toBe(
      ORIGINAL.replace(
        '  # Acme is our first customer.\n  acme:\n    name: Acme Corp   # trailing comment\n\n',
        '',
      ),
    );
    removeTenant(path, 'globex', {});
    expect(read()).toContain('tenants: {}\n\n# after tenants\n');
    expect(loadManifest(path, { MCP_TENANTS_SECRET: SECRET }).tenants.size).toBe(0);
  });

  it('is the inverse of addTenant', () => {
    writeFileSync(path, ORIGINAL);
    addTenant(path, { id: 'temp', name: 'Temp' }, {});
    removeTenant(path, 'temp', {});
    expect(read()).toBe(ORIGINAL);
  });

  it('refuses an unknown id and leaves the file alone', () => {
    writeFileSync(path, ORIGINAL);
    expect(() => removeTenant(path, 'nobody', {})).toThrow(
      expect.objectContaining({ code: ErrorCode.TENANT_UNKNOWN }),
    );
    expect(read()).toBe(ORIGINAL);
  });
});
