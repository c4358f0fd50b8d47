import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, createWorkspace, fixture, type TestWorkspace } from '../helpers/serve-process.js';

function doctor(manifest: string, ...extra: string[]) {
  const result = spawnSync(process.execPath, [CLI, 'doctor', '-m', manifest, ...extra], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Finding {
  check: string;
  status: string;
  detail: string;
  fix?: string;
}

describe('mcp-tenants doctor', () => {
  let workspace: TestWorkspace | undefined;
  let blocker: Server | undefined;

  afterEach(async () => {
    workspace?.cleanup();
    workspace = undefined;
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('passes a good manifest and names the limit layers and how each limit is held', () => {
    workspace = createWorkspace(
      { acme: { limits: { memory_mb: 128, pids: 16 } }, echo: fixture('echo-server.mjs') },
      { port: 0 },
    );
    const { code, stdout } = doctor(workspace.manifestPath);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok +manifest .*2 tenant/m);
    expect(stdout).toMatch(/^ok +command echo .*→/m);
    expect(stdout).toMatch(/^(ok|warn) +host-limits +active: .*watchdog/m);
    expect(stdout).toMatch(/^ok +limits acme +memory_mb 128 by .*, pids 16 by /m);
  });

  it('fails a missing command and a busy port, each with its fix, as JSON too', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker?.listen(0, '127.0.0.1', () => {
        const address = blocker?.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      }),
    );
    workspace = createWorkspace({ gone: { command: 'no-such-mcp-server' } }, { port });
    const { code, stdout, stderr } = doctor(workspace.manifestPath, '--json');
    expect(code).toBe(1);
    expect(stderr).toMatch(/2 check\(s\) failed/);
    const findings = JSON.parse(stdout) as Finding[];
    const failed = findings.filter((finding) => finding.status === 'fail');
    expect(failed.map((finding) => finding.check)).toEqual(['command gone', 'port']);
    for (const finding of failed) expect(finding.fix).toBeTruthy();
  });

  it('reports a broken manifest with its line, and stops there', () => {
    workspace = createWorkspace({});
    workspace.rewrite({ 'Bad Id': {} });
    const { code, stdout } = doctor(workspace.manifestPath);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^fail +manifest .*invalid tenant id/m);
    expect(stdout).not.toMatch(/host-limits/);
  });
});
