import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';

interface PackedFile {
  path: string;
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies: Record<string, string>;
  engines: { node: string };
  bin: Record<string, string>;
};

/** The files `npm pack` would put in the tarball. */
function packedFiles(): string[] {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  const [pack] = JSON.parse(result.stdout) as [{ files: PackedFile[] }];
  return pack.files.map((file) => file.path);
}

/** Bare package names imported by a compiled file. */
function importedPackages(source: string): string[] {
  const staticImports = source.matchAll(
    /^\s*(?:(?:import|export)\b[^;'"]*?\bfrom\s*|import\s*)['"]([^'"]+)['"]/gm,
  );
  const dynamicImports = source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g);
  const specifiers = [...staticImports, ...dynamicImports].map((match) => match[1] as string);
  return specifiers
    .filter((specifier) => !specifier.startsWith('.') && !specifier.startsWith('node:'))
    .map((specifier) =>
      specifier.startsWith('@')
        ? specifier.split('/').slice(0, 2).join('/')
        : (specifier.split('/')[0] as string),
    );
}

describe('the npm package', () => {
  const files = packedFiles();

  it('ships the compiled CLI, the schema and the example, and no sources or tests', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/mcp-tenants.js',
        'dist/cli/main.js',
        'dist/tenant-server/main.js',
        'schema/tenants.schema.json',
        'tenants.example.yaml',
        // The example manifest's tenant tool module.
        'examples/tools/greeting.mjs',
        'package.json',
        'README.md',
        // The reference the README links to.
        'docs/manifest.md',
        'docs/architecture.md',
      ]),
    );
    expect(files.filter((path) => /^(src|test|bench|scripts)\//.test(path))).toEqual([]);
    expect(manifest.engines.node).toBe('>=20');
    expect(manifest.bin['mcp-tenants']).toBe('bin/mcp-tenants.js');
  });

  it('needs only its runtime dependencies at run time', () => {
    const allowed = new Set([...Object.keys(manifest.dependencies), ...builtinModules]);
    const missing = files
      .filter((path) => path.endsWith('.js'))
      .flatMap((path) =>
        importedPackages(readFileSync(path, 'utf8'))
          .filter((name) => !allowed.has(name))
          .map((name) => `${path} imports ${name}`),
      );
    expect(missing).toEqual([]);
  });

  it('answers --help from the packaged entry', () => {
    const result = spawnSync(process.execPath, ['bin/mcp-tenants.js', '--help'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage: mcp-tenants/);
    for (const command of ['init', 'serve', 'add-tenant', 'token', 'doctor', 'tenants']) {
      expect(result.stdout).toContain(command);
    }
  });
});
