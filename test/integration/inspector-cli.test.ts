import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createWorkspace,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const REPO = join(import.meta.dirname, '..', '..');
const INSPECTOR_CLI = join(REPO, 'node_modules/@modelcontextprotocol/inspector-cli/build/cli.js');

/** Runs the MCP Inspector in CLI mode; resolves with its exit code and stdout. */
function inspector(args: string[]): Promise<{ code: number | null; stdout: string }> {
  // It finds its own package.json relative to the working directory: run it one level down.
  const child = spawn(process.execPath, [INSPECTOR_CLI, '--cli', ...args], {
    cwd: join(REPO, 'test'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

describe('the MCP Inspector (CLI mode) through serve', () => {
  let workspace: TestWorkspace | undefined;
  let serve: ServeProcess | undefined;

  afterEach(async () => {
    if (serve) expect((await serve.stop()).survivors).toEqual([]);
    workspace?.cleanup();
  });

  it('lists and calls a tenant tool with a bearer header', async () => {
    workspace = createWorkspace({ acme: {} });
    serve = await startServe(workspace.manifestPath);
    const auth = ['--header', `Authorization: Bearer ${await workspace.token('acme')}`];
    const common = [serve.url, '--transport', 'http', ...auth];

    const listed = await inspector([...common, '--method', 'tools/list']);
    expect(listed.code).toBe(0);
    const tools = JSON.parse(listed.stdout) as { tools: { name: string }[] };
    expect(tools.tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['data_set', 'data_get', 'data_delete', 'data_list']),
    );

    const called = await inspector([
      ...common,
      '--method',
      'tools/call',
      '--tool-name',
      'data_set',
      '--tool-arg',
      'key=inspected',
      'value=yes',
    ]);
    expect(called.code).toBe(0);
    expect(called.stdout).toContain('stored inspected');
  });
});
