import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, createWorkspace, type TestWorkspace } from '../helpers/serve-process.js';

/** The README's stand-in for where the clone is. */
const CLONE_CLI = '/path/to/mcp-tenants/bin/mcp-tenants.js';

interface ServerEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** The desktop-host configurations of the README, by the host they are for. */
function readmeConfigs(): ServerEntry[] {
  const blocks = [...readFileSync('README.md', 'utf8').matchAll(/```json\n([\s\S]*?)```/g)];
  return blocks
    .filter((block) => /"(mcpServers|servers)"/.test(block[1] as string))
    .map((block) => JSON.parse(block[1] as string) as Record<string, Record<string, ServerEntry>>)
    .flatMap((config) => Object.values(config.mcpServers ?? config.servers ?? {}));
}

describe('the README desktop-host configurations, started as written', () => {
  let workspace: TestWorkspace | undefined;
  let elsewhere: string | undefined;
  afterEach(() => {
    workspace?.cleanup();
    if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
    elsewhere = undefined;
  });

  const configs = readmeConfigs();

  it('covers Claude Desktop, Cursor and VS Code from a clone, and an installed package', () => {
    expect(configs.map((entry) => entry.command)).toEqual(['node', 'node', 'node', 'mcp-tenants']);
  });

  it.each(configs.map((entry, index) => [index, entry] as const))(
    'configuration %i lists and calls the tenant tools',
    async (_index, entry) => {
      workspace = createWorkspace({ acme: {} });
      const token = await workspace.token('acme');
      // Like a desktop host: started in a folder that is neither the clone nor the manifest's,
      // with `node` and an installed `mcp-tenants` (a link to this checkout's CLI, as
      // `npm install -g` and `npm link` make) found on PATH.
      elsewhere = mkdtempSync(join(tmpdir(), 'mcp-tenants-host-'));
      symlinkSync(CLI, join(elsewhere, 'mcp-tenants'));
      expect(entry.command === 'mcp-tenants' || entry.args[0] === CLONE_CLI).toBe(true);
      const args = entry.args.map((arg) =>
        arg === '/path/to/tenants.yaml'
          ? (workspace as TestWorkspace).manifestPath
          : arg === CLONE_CLI
            ? CLI
            : arg,
      );
      const env = Object.fromEntries(
        Object.entries(entry.env).map(([key, value]) => [
          key,
          value === '<token>' || value.startsWith('${input:') ? token : value,
        ]),
      );
      const transport = new StdioClientTransport({
        command: entry.command,
        args,
        cwd: elsewhere,
        env: {
          ...env,
          PATH: [elsewhere, dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
        },
        stderr: 'pipe',
      });
      const client = new Client({ name: 'desktop-host', version: '1.0.0' });
      await client.connect(transport);
      const tools = await client.listTools();
      expect(tools.tools.map((tool) => tool.name)).toContain('data_set');
      const result = await client.callTool({
        name: 'data_set',
        arguments: { key: 'from-host', value: 'hello' },
      });
      expect(result.isError).toBeFalsy();
      await client.close();
    },
  );
});
