import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { Logger } from '../core/logger.js';
import { userIdFromMeta } from './identity.js';
import { LIST_PAGE_SIZE, MAX_KEY_LENGTH, MAX_VALUE_BYTES } from './limits.js';
import type { TenantStore } from './store.js';
import { errorResult, runTool, textResult } from './tool-results.js';

// Limits are checked by the store, which gives clearer messages than schema
// validation would; the descriptions tell the model about them up front.
const key = z
  .string()
  .describe(`The key: 1 to ${MAX_KEY_LENGTH} characters, no control characters.`);

const listOutput = {
  items: z.array(
    z.object({
      key: z.string(),
      bytes: z.number().int().describe('Size of the value in UTF-8 bytes.'),
      updated_at: z.string().describe('ISO 8601 time of the last write.'),
    }),
  ),
  nextCursor: z.string().optional().describe('Pass as `cursor` to get the next page.'),
};

/** The default tools' names; a tenant's own modules cannot take them. */
export const DATA_TOOL_NAMES: readonly string[] = [
  'data_set',
  'data_get',
  'data_delete',
  'data_list',
];

/** The four default tools. Their names and arguments are a public contract. */
export function registerDataTools(server: McpServer, store: TenantStore, log: Logger): void {
  server.registerTool(
    'data_set',
    {
      title: 'Store a value',
      description: `Stores a text value (up to ${MAX_VALUE_BYTES} bytes) under a key, replacing any previous value. Refused when the tenant's storage quota would be exceeded.`,
      inputSchema: { key, value: z.string().describe('The text to store.') },
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    (args, extra) =>
      runTool('data_set', log, async () => {
        const bytes = await store.set(args.key, args.value, userIdFromMeta(extra._meta));
        return textResult(`stored ${args.key} (${bytes} bytes)`);
      }),
  );

  server.registerTool(
    'data_get',
    {
      title: 'Read a value',
      description: 'Returns the text stored under a key.',
      inputSchema: { key },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      runTool('data_get', log, async () => {
        const value = await store.get(args.key);
        return value === undefined ? errorResult(`no such key: ${args.key}`) : textResult(value);
      }),
  );

  server.registerTool(
    'data_delete',
    {
      title: 'Delete a value',
      description: 'Deletes a key and its value, freeing storage.',
      inputSchema: { key },
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    (args) =>
      runTool('data_delete', log, async () =>
        (await store.delete(args.key))
          ? textResult(`deleted ${args.key}`)
          : errorResult(`no such key: ${args.key}`),
      ),
  );

  server.registerTool(
    'data_list',
    {
      title: 'List keys',
      description: `Lists keys in key order, ${LIST_PAGE_SIZE} per page, with their size and last update. Optionally only keys starting with a prefix (matched literally).`,
      inputSchema: {
        prefix: z.string().optional().describe('Only keys starting with this text.'),
        cursor: z.string().optional().describe('The nextCursor of the previous page.'),
      },
      outputSchema: listOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      runTool('data_list', log, async () => {
        const page = await store.list({
          prefix: args.prefix,
          cursor: args.cursor,
          limit: LIST_PAGE_SIZE,
        });
        const structured: Record<string, unknown> =
          page.nextCursor === undefined
            ? { items: page.items }
            : { items: page.items, nextCursor: page.nextCursor };
        return { ...textResult(JSON.stringify(structured)), structuredContent: structured };
      }),
  );
}
