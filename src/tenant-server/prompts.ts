import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { MAX_KEY_LENGTH } from './limits.js';
import type { TenantStore } from './store.js';

/** How many key names the prompt spells out. */
const PROMPT_KEY_LIMIT = 50;

export function registerDataPrompts(server: McpServer, store: TenantStore): void {
  server.registerPrompt(
    'summarize_data',
    {
      title: 'Summarize stored data',
      description: "Asks the model to summarize the tenant's stored keys and values.",
      argsSchema: {
        prefix: z
          .string()
          .max(MAX_KEY_LENGTH)
          .optional()
          .describe('Only keys starting with this text.'),
      },
    },
    async ({ prefix }) => ({
      messages: [
        { role: 'user', content: { type: 'text', text: await summarizeText(store, prefix) } },
      ],
    }),
  );
}

async function summarizeText(store: TenantStore, prefix: string | undefined): Promise<string> {
  const page = await store.list({ prefix, limit: PROMPT_KEY_LIMIT });
  const scope = prefix ? ` under keys starting with ${JSON.stringify(prefix)}` : '';
  const intro = `Summarize the data stored for tenant ${store.tenantId}${scope}.`;
  if (page.items.length === 0) return `${intro}\nThere are no such keys yet; say so briefly.`;
  const more =
    page.nextCursor === undefined ? '' : ` (the first ${PROMPT_KEY_LIMIT}; there are more)`;
  const lines = page.items.map(
    (item) => `- ${item.key} (${item.bytes} bytes, updated ${item.updated_at})`,
  );
  return [
    intro,
    `Keys${more}:`,
    ...lines,
    `Read values with the data_get tool or the tenant://${store.tenantId}/data/<key> resources ` +
      'as needed, then describe what the data is about, how it is organised, and anything that looks ' +
      'stale or inconsistent.',
  ].join('\n');
}
