// What dominates the built-in child's cold start: Node start-up, imports, SQLite open.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StdioConnection } from './load-stdio.mjs';
import { median, msSince } from './stats.mjs';
import { REPO } from './targets.mjs';

const run = promisify(execFile);
const NODE = process.execPath;
// The entry the supervisor spawns (the bundle, when the build made one).
const { BUILTIN_CHILD_ENTRY: CHILD } = await import('../dist/process/spawn-plan.js');

/** Medians over `samples` fresh processes of each measurement, in milliseconds. */
export async function startupBreakdown(samples) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-startup-'));
  const rows = { bareNodeMs: [], probe: [], childFirstAnswerMs: [] };
  try {
    for (let i = 0; i < samples; i++) {
      // 1. A bare Node process: spawn → exit.
      let t0 = process.hrtime.bigint();
      await run(NODE, ['-e', '0']);
      rows.bareNodeMs.push(msSince(t0));

      // 2. The steps inside a fresh process.
      const { stdout } = await run(
        NODE,
        [join(REPO, 'bench', 'startup-probe.mjs'), join(dir, `p${i}`)],
        {
          cwd: REPO,
        },
      );
      rows.probe.push(JSON.parse(stdout));

      // 3. The real child: spawn → answer to initialize.
      const dataDir = join(dir, `c${i}`);
      t0 = process.hrtime.bigint();
      const child = new StdioConnection(NODE, [CHILD], {
        cwd: REPO,
        env: {
          PATH: process.env.PATH,
          MCP_TENANT_ID: `s${i}`,
          MCP_TENANT_DATA_DIR: dataDir,
          MCP_TENANT_MAX_STORAGE_MB: '1024',
        },
      });
      await child.initialize();
      rows.childFirstAnswerMs.push(msSince(t0));
      await child.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const probe = (key) => median(rows.probe.map((p) => p[key]));
  return {
    samples,
    bareNodeMs: median(rows.bareNodeMs),
    bootstrapMs: probe('bootstrapMs'),
    zodImportMs: probe('zodImportMs'),
    ajvImportMs: probe('ajvImportMs'),
    sdkImportMs: probe('sdkImportMs'),
    sqliteImportMs: probe('sqliteImportMs'),
    appImportMs: probe('appImportMs'),
    sqliteOpenMs: probe('sqliteOpenMs'),
    childFirstAnswerMs: median(rows.childFirstAnswerMs),
  };
}
