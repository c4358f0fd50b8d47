import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/core/errors.js';
import { loadManifest, parseManifest } from '../../src/manifest/load.js';
import { renderInitialManifest, writeInitialManifest } from '../../src/manifest/template.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-init-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('writeInitialManifest', () => {
  it('writes a 0600 manifest with a fresh strong secret that loads with no environment', () => {
    const path = join(dir, 'sub', 'tenants.yaml');
    expect(writeInitialManifest(path)).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const manifest = loadManifest(path, {});
    expect(Buffer.byteLength(manifest.auth.secret)).toBeGreaterThanOrEqual(48);
    expect(manifest.tenants.get('example')?.command).toBeUndefined();
    expect(manifest.server.data_dir).toBe(join(dir, 'sub', 'data'));

    const other = join(dir, 'other.yaml');
    writeInitialManifest(other);
    expect(loadManifest(other, {}).auth.secret).not.toBe(manifest.auth.secret);
  });

  it('refuses to overwrite an existing file unless forced', () => {
    const path = join(dir, 'tenants.yaml');
    writeFileSync(path, 'mine\n', { mode: 0o644 });
    expect(() => writeInitialManifest(path)).toThrow(
      expect.objectContaining({
        code: ErrorCode.USAGE,
        message: expect.stringContaining('--force'),
      }),
    );
    expect(readFileSync(path, 'utf8')).toBe('mine\n');
    writeInitialManifest(path, { force: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadManifest(path, {}).tenants.has('example')).toBe(true);
  });
});

describe('renderInitialManifest', () => {
  it('embeds the secret literally, even one that looks like a number or holds ${', () => {
    for (const secret of ['1'.repeat(40), `a\${B}${'c'.repeat(40)}`]) {
      const manifest = parseManifest(renderInitialManifest({ secret }), 'm.yaml', '/x', {});
      expect(manifest.auth.secret).toBe(secret);
    }
  });
});
