// biome-ignore-all lint/suspicious/noTemplateCurlyInString: manifests spell ${VAR} references literally
import { describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/manifest/load.js';

const SECRET = 's'.repeat(40);

/** The error message for `lines`, or a failure if it loads. */
function errorOf(lines: string[], env: NodeJS.ProcessEnv = {}): McpTenantsError {
  try {
    parseManifest(`${lines.join('\n')}\n`, 'my.yaml', '/x', env);
  } catch (error) {
    expect(error).toBeInstanceOf(McpTenantsError);
    expect((error as McpTenantsError).code).toBe(ErrorCode.MANIFEST_INVALID);
    return error as McpTenantsError;
  }
  throw new Error('expected the manifest to be rejected');
}

const messageOf = (lines: string[], env: NodeJS.ProcessEnv = {}): string =>
  errorOf(lines, env).message;

const auth = ['auth:', `  secret: ${SECRET}`];

describe('parseManifest: line-precise errors', () => {
  it('reports a YAML syntax error with its line', () => {
    const message = messageOf([...auth, 'tenants:', '  acme: name: Acme', 'x: 1']);
    expect(message).toMatch(/^my\.yaml:4 YAML syntax error: Nested mappings are not allowed/);
  });

  it('rejects duplicate keys', () => {
    const message = messageOf([...auth, 'tenants:', '  acme: {}', '  acme: {}']);
    expect(message).toBe('my.yaml:5 YAML syntax error: Map keys must be unique');
  });

  it('refuses a key named __proto__ instead of dropping it', () => {
    const message = messageOf([...auth, 'tenants:', '  acme: {}', '  __proto__: {}']);
    expect(message).toBe(
      'my.yaml:5 tenants.__proto__: the key "__proto__" is not allowed; rename it',
    );
  });

  it('reports an unknown key on its own line and suggests the close one', () => {
    const message = messageOf([...auth, 'tenants:', '  acme:', '    quotas:', '      max_tool: 5']);
    expect(message).toBe(
      'my.yaml:6 tenants.acme.quotas.max_tool: unknown key "max_tool" (did you mean max_tools?)',
    );
  });

  it('lists the known keys when no key is close', () => {
    const message = messageOf(['colour: blue', ...auth, 'tenants: {}']);
    expect(message).toBe(
      'my.yaml:1 colour: unknown key "colour" (expected one of: server, auth, defaults, telemetry, cluster, tenants)',
    );
  });

  it('rejects a value of the wrong type', () => {
    const message = messageOf(['server:', '  port: high', ...auth, 'tenants: {}']);
    expect(message).toBe(
      'my.yaml:2 server.port: expected a port number, an integer from 0 to 65535 (0 picks a free port) (got "high")',
    );
  });

  it('rejects a JSON depth that would refuse MCP itself or not protect the supervisor', () => {
    for (const depth of ['4', '5000', '64.5']) {
      const message = messageOf(['server:', `  max_json_depth: ${depth}`, ...auth, 'tenants: {}']);
      expect(message).toMatch(
        /^my\.yaml:2 server\.max_json_depth: expected a nesting depth, an integer from 8 to 1000/,
      );
    }
    const manifest = parseManifest(
      `${['server:', '  max_json_depth: 100', ...auth, 'tenants: {}'].join('\n')}\n`,
      'my.yaml',
      '/x',
      {},
    );
    expect(manifest.server.max_json_depth).toBe(100);
  });

  it('rejects a list where a map belongs', () => {
    const message = messageOf([...auth, 'tenants: [acme]']);
    expect(message).toBe('my.yaml:3 tenants: expected a map of key: value pairs (got a list)');
  });

  it('rejects zero and negative quotas and a fractional integer', () => {
    const message = messageOf([
      ...auth,
      'defaults:',
      '  quotas: { max_tools: 0 }',
      'tenants:',
      '  acme:',
      '    quotas: { max_requests_per_minute: -5 }',
      '    limits: { pids: 1.5, cpu: 0.25 }',
    ]);
    expect(message.split('\n')).toEqual([
      'my.yaml: 3 problems in the manifest:',
      'my.yaml:4 defaults.quotas.max_tools: expected a positive integer (got 0)',
      'my.yaml:7 tenants.acme.quotas.max_requests_per_minute: expected a positive integer (got -5)',
      'my.yaml:8 tenants.acme.limits.pids: expected a positive integer (got 1.5)',
    ]);
  });

  it('rejects a tenant id outside the pattern, on the id line', () => {
    const message = messageOf([...auth, 'tenants:', '  ok: {}', '  Acme_Corp: {}']);
    expect(message).toMatch(/^my\.yaml:5 tenants\.Acme_Corp: invalid tenant id: ids must match /);
    expect(message).toContain('^[a-z0-9][a-z0-9_-]{0,62}$');
  });

  it('rejects args without command', () => {
    const message = messageOf([...auth, 'tenants:', '  acme:', '    args: [server.js]']);
    expect(message).toBe(
      'my.yaml:5 tenants.acme.args: args is only allowed together with command (the built-in server takes none)',
    );
  });

  it('rejects an env value that is a map or a list, naming the variable', () => {
    const message = messageOf([
      ...auth,
      'tenants:',
      '  acme:',
      '    command: node',
      '    env:',
      '      LIST: [a]',
    ]);
    expect(message).toMatch(
      /^my\.yaml:7 tenants\.acme\.env\.LIST: expected a string .*\(got a list\)$/,
    );
  });

  it('rejects a secret shorter than 32 bytes and says how to get a good one', () => {
    const message = messageOf(['auth:', '  secret: tooshort', 'tenants: {}']);
    expect(message).toMatch(
      /^my\.yaml:2 auth\.secret: secret is 8 bytes; it must be at least 32\./,
    );
    expect(message).toContain('mcp-tenants init');
  });

  it('requires exactly one of secret and secret_file', () => {
    expect(messageOf(['auth:', '  issuer: https://i.example', 'tenants: {}'])).toBe(
      'my.yaml:1 auth: set exactly one of secret (e.g. secret: ${MCP_TENANTS_SECRET}) or secret_file',
    );
    expect(messageOf([...auth, '  secret_file: ./s', 'tenants: {}'])).toBe(
      'my.yaml:1 auth: set either secret or secret_file, not both',
    );
  });

  it('reports a missing required key at the parent line', () => {
    expect(messageOf(['server:', '  port: 1', 'tenants: {}'])).toBe(
      'my.yaml:1 auth: required key is missing',
    );
    expect(messageOf(['# comment', '', ...auth])).toBe(
      'my.yaml:3 tenants: required key is missing',
    );
  });

  it('names an unset environment variable and its line', () => {
    const message = messageOf(['tenants: {}', 'auth:', '  secret: ${MCP_TENANTS_SECRET}']);
    // The secret is not also reported as too short: one problem, one message.
    expect(message).toBe(
      'my.yaml:3 auth.secret: environment variable MCP_TENANTS_SECRET is not set',
    );
  });

  it('rejects a malformed ${...} reference', () => {
    const message = messageOf([...auth, 'server:', '  host: ${1BAD}', 'tenants: {}']);
    expect(message).toMatch(/^my\.yaml:4 server\.host: invalid reference "\$\{1BAD\}"/);
  });

  it('rejects an empty file', () => {
    expect(messageOf(['# nothing here'])).toMatch(/^my\.yaml:1 \(top level\): expected a map/);
  });

  it('lists every problem, sorted by line, with structured data', () => {
    const error = errorOf([
      'server:',
      '  prot: 1',
      'auth:',
      '  secret: short',
      'tenants:',
      '  acme: { quotas: { max_tools: -1 } }',
    ]);
    expect(error.message.split('\n')).toEqual([
      'my.yaml: 3 problems in the manifest:',
      'my.yaml:2 server.prot: unknown key "prot" (did you mean port?)',
      expect.stringMatching(/^my\.yaml:4 auth\.secret: secret is 5 bytes/),
      'my.yaml:6 tenants.acme.quotas.max_tools: expected a positive integer (got -1)',
    ]);
    expect(error.data?.problems).toHaveLength(3);
  });

  it('rejects an origin with a path', () => {
    const message = messageOf([
      'server:',
      '  allowed_origins:',
      '    - https://ok.example',
      '    - https://app.example.com/path',
      ...auth,
      'tenants: {}',
    ]);
    expect(message).toMatch(/^my\.yaml:4 server\.allowed_origins\[1\]: expected an origin like/);
  });
});

describe('parseManifest: ${...} syntax', () => {
  it('rejects an unclosed ${ and says how to write a literal one', () => {
    const message = messageOf([...auth, 'server:', '  host: ${HOST', 'tenants: {}']);
    expect(message).toBe('my.yaml:4 server.host: unclosed "${" (write "$${" for a literal "${")');
  });

  it('suggests a close key inside a tenant too', () => {
    const message = messageOf([...auth, 'tenants:', '  acme:', '    comand: node']);
    expect(message).toBe(
      'my.yaml:5 tenants.acme.comand: unknown key "comand" (did you mean command?)',
    );
  });
});

describe('parseManifest: deployment keys (public_url, audience, claims)', () => {
  const load = (lines: string[]) => parseManifest(`${lines.join('\n')}\n`, 'my.yaml', '/x', {});

  it('takes public_url as an origin and makes <public_url>/mcp the resource', () => {
    const manifest = load([
      'server:',
      '  public_url: https://mcp.example.com/',
      ...auth,
      '  claims: { tenant: org_id, permissions: scope }',
      'tenants: {}',
    ]);
    expect(manifest.server.public_url).toBe('https://mcp.example.com');
    expect(manifest.auth.resource).toBe('https://mcp.example.com/mcp');
    expect(manifest.auth.audience).toBeUndefined();
    expect(manifest.auth.claims).toEqual({ tenant: 'org_id', permissions: 'scope' });
  });

  it('keeps an audience the manifest names, one or a list', () => {
    const one = load([
      'server:',
      '  public_url: https://a.test',
      ...auth,
      '  audience: api://x',
      'tenants: {}',
    ]);
    expect(one.auth.audience).toEqual(['api://x']);
    const list = load([...auth, '  audience: [api://x, https://a.test/mcp]', 'tenants: {}']);
    expect(list.auth.audience).toEqual(['api://x', 'https://a.test/mcp']);
  });

  it('refuses a public_url with a path, or plain http off loopback', () => {
    expect(
      messageOf(['server:', '  public_url: https://a.test/tools', ...auth, 'tenants: {}']),
    ).toBe(
      'my.yaml:2 server.public_url: expected only an origin, like https://a.test: MCP is at /mcp below it',
    );
    expect(messageOf(['server:', '  public_url: http://a.test', ...auth, 'tenants: {}'])).toMatch(
      /^my\.yaml:2 server\.public_url: expected the https:\/\/ URL clients use/,
    );
  });

  it('refuses an unknown claims key and an empty authorization_servers', () => {
    expect(messageOf([...auth, '  claims: { tenants: org_id }', 'tenants: {}'])).toMatch(
      /auth\.claims\.tenants: unknown key "tenants" \(did you mean tenant\?\)/,
    );
    expect(messageOf([...auth, '  authorization_servers: []', 'tenants: {}'])).toMatch(
      /auth\.authorization_servers: list at least one authorization server/,
    );
  });
});
