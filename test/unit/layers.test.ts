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
});
