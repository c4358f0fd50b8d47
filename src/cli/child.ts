import { Command } from 'commander';

export function childCommand(): Command {
  return new Command('child')
    .description(
      'run the built-in tenant server on stdio (started by `serve`; reads MCP_TENANT_ID, MCP_TENANT_DATA_DIR, MCP_TENANT_MAX_STORAGE_MB)',
    )
    .action(async () => {
      const { main } = await import('../tenant-server/main.js');
      await main();
    });
}
