import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, createWorkspace, type TestWorkspace } from '../helpers/serve-process.js';

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
  afterEach(() => workspace?.cleanup());

  const configs = readmeConfigs();

  it('covers Claude Desktop, Cursor and VS Code', () => {
    expect(configs).toHaveLength(3);
  });

  it.each(configs.map((entry, index) => [index, entry] as const))(
    'configuration %i lists and calls the tenant tools',
    async (_index, entry) => {
      workspace = createWorkspace({ acme: {} });
      const token = await workspace.token('acme');
      // `npx mcp-tenants` is this checkout's CLI; the rest exactly as written.
      expect(entry.command).toBe('npx');
      expect(entry.args[0]).toBe('mcp-tenants');
      const args = entry.args
        .slice(1)
        .map((arg) =>
          arg === '/path/to/tenants.yaml' ? (workspace as TestWorkspace).manifestPath : arg,
        );
      const env = Object.fromEntries(
        Object.entries(entry.env).map(([key, value]) => [
          key,
          value === '<token>' || value.startsWith('${input:') ? token : value,
        ]),
      );
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, ...args],
        env: { ...env, PATH: process.env.PATH ?? '' },
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
