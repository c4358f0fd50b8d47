import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/core/errors.js';
import { loadManifest } from '../../src/manifest/load.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-manifest-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('loadManifest', () => {
  it('says where the missing file should be and how to create it', () => {
    const path = join(dir, 'nope.yaml');
    expect(() => loadManifest(path, {})).toThrow(
      expect.objectContaining({
        code: ErrorCode.MANIFEST_NOT_FOUND,
        message: expect.stringContaining(`mcp-tenants init -m ${path}`),
      }),
    );
  });

  it('names the file as the user gave it and resolves data_dir against its directory', () => {
    mkdirSync(join(dir, 'conf'));
    const path = join(dir, 'conf', 'm.yaml');
    writeFileSync(
      path,
      `auth:\n  secret: ${'s'.repeat(32)}\ntenants: {}\nserver: { data_dir: ../d }\n`,
    );
    const manifest = loadManifest(path, {});
    expect(manifest.path).toBe(path);
    expect(manifest.server.data_dir).toBe(join(dir, 'd'));
    writeFileSync(path, 'auth: {}\ntenants: {}\n');
    expect(() => loadManifest(path, {})).toThrow(`${path}:1 auth: set exactly one of`);
  });
});

describe('auth.secret_file', () => {
  const manifestWith = (secretFile: string): string => {
    const path = join(dir, 'm.yaml');
    writeFileSync(path, `auth:\n  secret_file: ${secretFile}\ntenants: {}\n`);
    return path;
  };

  it('is created on first load: dir 0700, file 0600, 48 random bytes, stable afterwards', () => {
    const path = manifestWith('./.mcp-tenants/secret');
    const secretPath = join(dir, '.mcp-tenants', 'secret');
    const first = loadManifest(path, {});
    expect(mode(join(dir, '.mcp-tenants'))).toBe(0o700);
    expect(mode(secretPath)).toBe(0o600);
    expect(readFileSync(secretPath, 'utf8')).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
    expect(first.auth.secret).toBe(readFileSync(secretPath, 'utf8').trim());
    expect(loadManifest(path, {}).auth.secret).toBe(first.auth.secret);
  });

  it('reads an existing file, trimmed', () => {
    writeFileSync(join(dir, 'given'), `  ${'k'.repeat(33)}  \n`);
    expect(loadManifest(manifestWith('given'), {}).auth.secret).toBe('k'.repeat(33));
  });

  it('rejects a file holding a short secret, on the secret_file line', () => {
    writeFileSync(join(dir, 'short'), 'abc\n');
    const path = manifestWith('short');
    expect(() => loadManifest(path, {})).toThrow(
      `${path}:2 auth.secret_file: secret file ${join(dir, 'short')} holds 3 bytes`,
    );
  });
});

describe('tenants.example.yaml', () => {
  it('loads cleanly with no environment and creates its secret file', () => {
    const path = join(dir, 'tenants.example.yaml');
    copyFileSync(join(import.meta.dirname, '..', '..', 'tenants.example.yaml'), path);
    const manifest = loadManifest(path, {});
    expect(manifest.server.port).toBe(7800);
    expect(manifest.server.data_dir).toBe(join(dir, 'data'));
    expect([...manifest.tenants.values()].map((t) => [t.id, t.name, t.command])).toEqual([
      ['acme', 'Acme Corp', undefined],
      ['globex', 'Globex', undefined],
      ['initech', 'Initech', undefined],
    ]);
    const initech = manifest.tenants.get('initech');
    const acme = manifest.tenants.get('acme');
    expect(initech?.quotas.max_requests_per_minute).toBeLessThan(
      acme?.quotas.max_requests_per_minute ?? 0,
    );
    expect(mode(join(dir, '.mcp-tenants', 'example.secret'))).toBe(0o600);
  });
});
