import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/check-layers.mjs', import.meta.url));
const run = promisify(execFile);
const trees: string[] = [];

/** A throwaway src/ tree: path → file text. */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  trees.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

async function check(src?: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [
      SCRIPT,
      ...(src ? ['--src', src] : []),
    ]);
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout + failed.stderr };
  }
}

afterEach(() => {
  for (const root of trees.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('the layering check', () => {
  it('passes on this codebase', async () => {
    const result = await check();
    expect(result.out).toContain('no circle');
    expect(result.code).toBe(0);
  });

  it('fails on a folder circle and names the import that climbs', async () => {
    const src = tree({
      'core/a.ts': "import { b } from '../relay/b.js';\nexport const a = b;\n",
      'relay/b.ts': "import { a } from '../core/a.js';\nexport const b = 1; void a;\n",
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('folders import each other in a circle: core ↔ relay');
    expect(result.out).toContain('core may not import relay');
    expect(result.out).toContain('core/a.ts imports relay/b.ts');
  });

  it('fails on a circle of type imports between files of one folder', async () => {
    const src = tree({
      'relay/x.ts': "import type { Y } from './y.js';\nexport type X = Y;\n",
      'relay/y.ts': "import type { X } from './x.js';\nexport type Y = X | 1;\n",
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('files import each other in a circle: relay/x.ts ↔ relay/y.ts');
  });

  it('fails on a folder that is in no layer', async () => {
    const src = tree({ 'misc/z.ts': "import { a } from '../core/a.js';\n", 'core/a.ts': '' });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('src/misc is in no layer');
  });

  it('lets peers of one layer stay apart: a stage may not import another stage', async () => {
    const src = tree({
      'quota/q.ts': "import { p } from '../policy/p.js';\n",
      'policy/p.ts': 'export const p = 1;\n',
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('quota may not import policy');
  });

  it.each([
    ['a re-export', "export * from '../relay/b.js';"],
    ['a side-effect import', "import '../relay/b.js';"],
    [
      'a multi-line import with quotes in a comment',
      "import {\n  // the 'b' \"thing\"\n  b,\n} from '../relay/b.js';",
    ],
    ['a dynamic import', "await import ( '../relay/b.js', { with: {} } );"],
    ['a template-literal import', 'await import(`../relay/b.js`);'],
    ['an import after a statement', "const x = 1; import { b } from '../relay/b.js';"],
    ['a require', "import b = require('../relay/b.js');"],
    ['a type query', "type B = typeof import('../relay/b.js');"],
    ['a folder import', "import { b } from '../relay';"],
  ])('sees %s', async (_what, line) => {
    const src = tree({
      'core/a.ts': `${line}\n`,
      'relay/b.ts': 'export const b = 1;\n',
      'relay/index.ts': "export * from './b.js';\n",
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('core may not import relay');
  });

  it('fails on an import it cannot follow, and on a self-import', async () => {
    const src = tree({
      'core/a.ts': "const name = './b.js';\nawait import(name);\nimport { a } from './a.js';\n",
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain('core/a.ts: an import the check cannot follow: import(name)');
    expect(result.out).toContain('core/a.ts imports itself');
  });

  it.each([
    [
      'the relay reaching a process',
      'relay/r.ts',
      "import { p } from '../process/p.js';",
      'relay may not import process',
    ],
    [
      'a front reaching the registry past its interface',
      'front/f.ts',
      "import { r } from '../registry/tenant-registry.js';",
      'front may reach registry only through registry/tenants.ts',
    ],
    [
      'doctor reaching a front',
      'doctor/d.ts',
      "import { f } from '../front/f.js';",
      'doctor may not import front',
    ],
    [
      'the package naming itself',
      'core/c.ts',
      "import { x } from 'mcp-tenants';",
      'import our own modules by relative path',
    ],
  ])('refuses %s', async (_what, file, line, expected) => {
    const src = tree({
      'process/p.ts': '',
      'registry/tenant-registry.ts': '',
      'registry/tenants.ts': '',
      'front/f.ts': '',
      [file]: `${line}\n`,
    });
    const result = await check(src);
    expect(result.code).toBe(1);
    expect(result.out).toContain(expected);
  });

  it('lets a front use the registry through registry/tenants.ts', async () => {
    const src = tree({
      'front/f.ts': "import type { Tenants } from '../registry/tenants.js';\n",
      'registry/tenants.ts': 'export interface Tenants {}\n',
    });
    const result = await check(src);
    expect(result.out).toContain('no circle');
    expect(result.code).toBe(0);
  });
});
