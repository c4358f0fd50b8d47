import { Command } from 'commander';
import { writeInitialManifest } from '../manifest/template.js';
import { manifestOption } from './options.js';

export function initCommand(): Command {
  return new Command('init')
    .description('write a new manifest with a fresh random secret (file mode 0600)')
    .addOption(manifestOption())
    .option('--force', 'overwrite an existing file')
    .action((options: { manifest: string; force?: boolean }) => {
      const path = writeInitialManifest(options.manifest, { force: options.force ?? false });
      process.stdout.write(
        `wrote ${path} (mode 0600: it holds the token secret)\n` +
          `next: mcp-tenants add-tenant <id> -m ${options.manifest}, then mcp-tenants serve -m ${options.manifest}\n`,
      );
    });
}
