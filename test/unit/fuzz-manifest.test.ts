import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { McpTenantsError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { fuzzSettings, fuzzTimeout } from '../helpers/fuzz.js';

const VALID = `server:
  host: 127.0.0.1
  port: 7800
  data_dir: ./data
  allowed_origins: [https://app.example]
auth:
  secret: "\${FUZZ_SECRET}"
  issuer: https://id.example
defaults:
  quotas: { max_tools: 100, max_requests_per_minute: 1000 }
  limits: { memory_mb: 512, cpu: 0.5 }
tenants:
  acme:
    name: Acme Corp
  files:
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /srv/files]
    env: { API_KEY: "\${FUZZ_KEY:-none}" }
    quotas: { max_requests_per_minute: 120 }
    isolation: session
`;

const KEYS = [
  'server',
  'auth',
  'defaults',
  'tenants',
  'telemetry',
  'secret',
  'secret_file',
  'issuer',
  'acme',
  'quotas',
  'limits',
  'max_tools',
  'memory_mb',
  'cpu',
  'command',
  'args',
  'env',
  'port',
  'host',
  'data_dir',
  'isolation',
  'eager',
  '<<',
  '__proto__',
  'constructor',
  '?',
];
const VALUES = [
  '',
  '{}',
  '[]',
  '~',
  'null',
  'true',
  '0',
  '-1',
  '1e999',
  '0x1f',
  '.nan',
  '1.5',
  '"x"',
  "'y'",
  // The manifest's own variable syntax (escaped: these are not JavaScript templates).
  `\${FUZZ_SECRET}`,
  `\${UNSET}`,
  `\${X:-1}`,
  '$${',
  '${',
  '&a',
  '*a',
  '!!binary aGk=',
  '!!set {a}',
  '!custom x',
  '|',
  '>-',
  '"unterminated',
  '[1, {a: b}]',
  '{acme: {}}',
  '- x',
  '%',
  '@',
  '`',
  '#',
  '\t',
  'tenant-a',
  'a'.repeat(70),
];

/** Lines built from the manifest's own vocabulary, so the parser gets past YAML often. */
const yamlish = fc
  .array(
    fc.tuple(
      fc.constantFrom('', '  ', '    ', '      ', '\t', '- '),
      fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })),
      fc.constantFrom(': ', ':', ' : ', ': |\n  ', ''),
      fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 12, unit: 'binary' })),
      fc.constantFrom('\n', '\r\n', ' # c\n', '\n\n'),
    ),
    { maxLength: 25 },
  )
  .map((lines) => lines.map((parts) => parts.join('')).join(''));

/** A valid manifest with a few random edits: the errors a person typing makes. */
const edited = fc
  .array(
    fc.tuple(
      fc.nat({ max: VALID.length }),
      fc.nat({ max: 6 }),
      fc.oneof(fc.constantFrom(':', ' ', '\n', '{', '[', '"', '-', '&', '*', '!'), fc.string()),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((edits) =>
    edits.reduce(
      (text, [at, cut, insert]) => text.slice(0, at) + insert + text.slice(at + cut),
      VALID,
    ),
  );

describe('fuzz: the manifest loader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-fuzz-'));
  const env = { FUZZ_SECRET: 'a-fuzzing-secret-that-is-long-enough-32' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const settings = fuzzSettings(2_000, 8_000);
  it(
    'loads the text or refuses it with a located McpTenantsError, never anything else',
    () => {
      expect(() => parseManifest(VALID, 'fuzz.yaml', dir, env)).not.toThrow();
      fc.assert(
        fc.property(fc.oneof(yamlish, edited, fc.string({ unit: 'binary' })), (text) => {
          try {
            parseManifest(text, 'fuzz.yaml', dir, env);
            return true;
          } catch (error) {
            if (!(error instanceof McpTenantsError)) throw error;
            expect(error.code).toBe('MANIFEST_INVALID');
            expect(error.message).toMatch(/^fuzz\.yaml(:\d+ |: \d+ problems)/);
            const problems = (error.data?.problems ?? []) as { line: number }[];
            expect(problems.length).toBeGreaterThan(0);
            for (const problem of problems) expect(problem.line).toBeGreaterThanOrEqual(1);
            return true;
          }
        }),
        settings,
      );
    },
    fuzzTimeout(settings),
  );
});
