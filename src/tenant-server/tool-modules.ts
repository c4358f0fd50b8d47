/**
 * A tenant's own tools, from the modules listed under `tools_modules:` in
 * the manifest, registered next to the default data tools.
 *
 * The module contract: a default export (or an export named `register`)
 * that is a function, called once when the tenant's server starts:
 *
 *   export default function register(api) {
 *     api.registerTool('greet', {
 *       description: 'Greets someone',
 *       inputSchema: { name: api.z.string() },      // a zod shape, or omit
 *       annotations: { readOnlyHint: true },         // optional
 *     }, async ({ name }, call) => `Hello ${name}, from ${call.userId ?? 'someone'}`);
 *   }
 *
 * `api` holds `tenantId`, `dataDir` (the tenant's own folder), `z` (zod),
 * `log(message)` (to stderr) and `registerTool(name, config, handler)`.
 * A handler gets the arguments and `{ userId, tenantId, signal }` and returns
 * a text, or a full MCP tool result; what it throws becomes an `isError`
 * result. `register` may be async. A module that cannot be imported, throws,
 * or names a tool that exists already registers nothing: it is reported in
 * the log and the other tools keep working.
 */

import { pathToFileURL } from 'node:url';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { Logger } from '../core/logger.js';
import { userIdFromMeta } from './identity.js';
import { errorResult, textResult } from './tool-results.js';

/** A module that does not finish registering within this time is reported and skipped. */
export const MODULE_LOAD_TIMEOUT_MS = 10_000;

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export interface ToolCall {
  userId: string | undefined;
  tenantId: string;
  signal: AbortSignal;
}

export interface ToolConfig {
  title?: string;
  description?: string;
  inputSchema?: z.ZodRawShape;
  annotations?: ToolAnnotations;
}

export type ToolHandler = (
  args: Record<string, unknown>,
  call: ToolCall,
) => string | CallToolResult | Promise<string | CallToolResult>;

export interface ToolModuleApi {
  tenantId: string;
  dataDir: string;
  z: typeof z;
  log(message: string): void;
  registerTool(name: string, config: ToolConfig, handler: ToolHandler): void;
}

interface PendingTool {
  name: string;
  config: ToolConfig;
  handler: ToolHandler;
}

export interface ModuleContext {
  tenantId: string;
  dataDir: string;
  log: Logger;
  /** Names already taken (the default tools, earlier modules). */
  taken: Set<string>;
}

/** Loads every module in order; returns how many loaded. Never throws. */
export async function loadToolModules(
  server: McpServer,
  paths: readonly string[],
  context: ModuleContext,
): Promise<number> {
  let loaded = 0;
  for (const path of paths) {
    try {
      const tools = await withTimeout(collectTools(path, context));
      for (const tool of tools) register(server, tool, context);
      loaded += 1;
      context.log.info('tool module loaded', {
        module: path,
        tools: tools.map((t) => t.name).join(','),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      context.log.error(
        `tool module ${path} failed to load: ${reason}; the default tools keep working`,
      );
    }
  }
  return loaded;
}

/** Imports one module and runs its register function against a staging list. */
async function collectTools(path: string, context: ModuleContext): Promise<PendingTool[]> {
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const register = typeof module.default === 'function' ? module.default : module.register;
  if (typeof register !== 'function') {
    throw new Error(
      'it exports no register function (export default function register(api) {...})',
    );
  }
  const tools: PendingTool[] = [];
  const api: ToolModuleApi = {
    tenantId: context.tenantId,
    dataDir: context.dataDir,
    z,
    log: (message) => context.log.info(message, { module: path }),
    registerTool(name, config, handler) {
      if (!TOOL_NAME.test(name)) {
        throw new Error(`tool name ${JSON.stringify(name)} must be 1-128 of A-Z a-z 0-9 _ . -`);
      }
      if (context.taken.has(name) || tools.some((tool) => tool.name === name)) {
        throw new Error(`tool ${name} exists already`);
      }
      if (typeof handler !== 'function') throw new Error(`tool ${name} has no handler function`);
      tools.push({ name, config, handler });
    },
  };
  await register(api);
  for (const tool of tools) context.taken.add(tool.name);
  return tools;
}

function register(server: McpServer, tool: PendingTool, context: ModuleContext): void {
  const { title, description, inputSchema, annotations } = tool.config;
  server.registerTool(
    tool.name,
    {
      ...(title !== undefined && { title }),
      ...(description !== undefined && { description }),
      ...(annotations !== undefined && { annotations }),
      inputSchema: inputSchema ?? {},
    },
    async (args: Record<string, unknown>, extra) => {
      const call = {
        userId: userIdFromMeta(extra._meta),
        tenantId: context.tenantId,
        signal: extra.signal,
      };
      try {
        const result = await tool.handler(args, call);
        return typeof result === 'string' ? textResult(result) : result;
      } catch (error) {
        return errorResult(
          `${tool.name} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    },
  );
}

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`it did not finish registering within ${MODULE_LOAD_TIMEOUT_MS} ms`)),
      MODULE_LOAD_TIMEOUT_MS,
    );
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
