import { Command } from 'commander';
import type { Limits, Quotas } from '../core/config.js';
import { addTenant } from '../manifest/edit.js';
import {
  collect,
  manifestOption,
  parseCount,
  parseKeyValue,
  parsePositiveInt,
  parsePositiveNumber,
  parseSystemId,
} from './options.js';

interface AddTenantOptions {
  manifest: string;
  name?: string;
  command?: string;
  arg?: string[];
  env?: Record<string, string>;
  maxTools?: number;
  maxResources?: number;
  maxRequestsPerMinute?: number;
  maxStorageMb?: number;
  maxConcurrentRequests?: number;
  maxQueue?: number;
  maxRequestsPerMinutePerUser?: number;
  maxToolCallsPerDay?: number;
  maxToolCallsPerMonth?: number;
  toolsModule?: string[];
  memoryMb?: number;
  cpu?: number;
  pids?: number;
  requestTimeoutMs?: number;
  user?: string | number;
  group?: string | number;
}

export function addTenantCommand(): Command {
  return new Command('add-tenant')
    .description('add a tenant to the manifest, keeping its comments and layout')
    .argument('<id>', 'tenant id: [a-z0-9][a-z0-9_-]{0,62}')
    .addOption(manifestOption())
    .option('--name <name>', 'display name (default: the id)')
    .option('--command <executable>', 'child MCP server (default: the built-in tenant server)')
    .option('--arg <value>', 'argument for --command (repeatable)', collect)
    .option('--env <KEY=VALUE>', 'environment variable for the child (repeatable)', parseKeyValue)
    .option('--max-tools <n>', 'tools the tenant may expose', parsePositiveInt)
    .option('--max-resources <n>', 'resources the tenant may expose', parsePositiveInt)
    .option('--max-requests-per-minute <n>', 'request rate for the tenant', parsePositiveInt)
    .option('--max-storage-mb <n>', 'storage for the tenant data', parsePositiveInt)
    .option('--max-concurrent-requests <n>', 'requests in flight at once', parsePositiveInt)
    .option('--max-queue <n>', 'requests that may wait for a free slot (default 0)', parseCount)
    .option(
      '--max-requests-per-minute-per-user <n>',
      'request rate for each user of the tenant',
      parsePositiveInt,
    )
    .option(
      '--max-tool-calls-per-day <n>',
      'tool calls per UTC day, counted durably',
      parsePositiveInt,
    )
    .option('--max-tool-calls-per-month <n>', 'tool calls per UTC month', parsePositiveInt)
    .option(
      '--tools-module <path>',
      "the tenant's own tool module for the built-in server, relative to the manifest (repeatable)",
      collect,
    )
    .option('--memory-mb <n>', 'memory limit of the child', parsePositiveInt)
    .option('--cpu <cores>', 'CPU limit of the child in cores (e.g. 0.5)', parsePositiveNumber)
    .option('--pids <n>', 'process limit of the child', parsePositiveInt)
    .option('--request-timeout-ms <n>', 'how long one request may take', parsePositiveInt)
    .option(
      '--user <name|uid>',
      "user the tenant's child runs as (the supervisor must run as root)",
      parseSystemId,
    )
    .option(
      '--group <name|gid>',
      "group the tenant's child runs as (default: the user's primary group)",
      parseSystemId,
    )
    .addHelpText(
      'after',
      `
Examples:
  $ mcp-tenants add-tenant acme -m tenants.yaml --name "Acme Corp" --max-requests-per-minute 600
  $ mcp-tenants add-tenant shop --max-requests-per-minute-per-user 60 --max-tool-calls-per-day 5000 --tools-module ./tools/shop.mjs
  $ mcp-tenants add-tenant files --command npx --arg -y --arg @modelcontextprotocol/server-filesystem --arg /srv/files
  $ mcp-tenants add-tenant initech --user mcp-initech --group mcp-initech`,
    )
    .action((id: string, options: AddTenantOptions) => {
      const quotas: Partial<Quotas> = definedOnly({
        max_tools: options.maxTools,
        max_resources: options.maxResources,
        max_requests_per_minute: options.maxRequestsPerMinute,
        max_storage_mb: options.maxStorageMb,
        max_concurrent_requests: options.maxConcurrentRequests,
        max_queue: options.maxQueue,
        max_requests_per_minute_per_user: options.maxRequestsPerMinutePerUser,
        max_tool_calls_per_day: options.maxToolCallsPerDay,
        max_tool_calls_per_month: options.maxToolCallsPerMonth,
      });
      const limits: Partial<Limits> = definedOnly({
        memory_mb: options.memoryMb,
        cpu: options.cpu,
        pids: options.pids,
      });
      addTenant(options.manifest, {
        id,
        name: options.name,
        command: options.command,
        args: options.arg,
        env: options.env,
        quotas: Object.keys(quotas).length > 0 ? quotas : undefined,
        limits: Object.keys(limits).length > 0 ? limits : undefined,
        request_timeout_ms: options.requestTimeoutMs,
        tools_modules: options.toolsModule,
        user: options.user,
        group: options.group,
      });
      process.stdout.write(`added tenant ${id} to ${options.manifest}\n`);
    });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
