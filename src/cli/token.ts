import { userInfo } from 'node:os';
import { Command } from 'commander';
import { parseDuration } from '../auth/duration.js';
import { DEFAULT_PERMISSIONS, parsePermissionList } from '../auth/permissions.js';
import { signToken } from '../auth/sign.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { loadManifest } from '../manifest/load.js';
import { manifestOption } from './options.js';

interface TokenOptions {
  manifest: string;
  user?: string;
  permissions?: string;
  ttl: string;
  operator?: boolean;
}

export function tokenCommand(): Command {
  return new Command('token')
    .description(
      'print a signed JWT for a tenant user (or an operator) on stdout, and nothing else',
    )
    .argument('[tenant]', 'tenant id (omit with --operator)')
    .addOption(manifestOption())
    .option('-u, --user <id>', 'user id (claim user_id; default: your login name)')
    .option(
      '--permissions <list>',
      `comma-separated: admin, tools:<glob>, resources:<glob>, prompts:<glob> (default: ${DEFAULT_PERMISSIONS.join(',')})`,
    )
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 1h, 7d', '1h')
    .option('--operator', 'an operator token: every tenant on /metrics and status, no tenant tools')
    .addHelpText(
      'after',
      `
Examples:
  $ mcp-tenants token acme -m tenants.yaml --user alice --ttl 8h
  $ mcp-tenants token acme --user bot --permissions tools:data_*,resources:*
  $ mcp-tenants token --operator -m tenants.yaml`,
    )
    .action((tenant: string | undefined, options: TokenOptions) => token(tenant, options));
}

async function token(tenant: string | undefined, options: TokenOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const ttlSeconds = parseDuration(options.ttl);
  let jwt: string;
  if (options.operator) {
    if (tenant !== undefined) {
      throw new McpTenantsError(
        ErrorCode.USAGE,
        'an operator token has no tenant; drop the tenant id',
      );
    }
    jwt = await signToken(manifest.auth, { operator: true, userId: options.user, ttlSeconds });
  } else {
    if (tenant === undefined) {
      throw new McpTenantsError(
        ErrorCode.USAGE,
        'name the tenant (`mcp-tenants token <tenant>`) or pass --operator',
      );
    }
    if (!manifest.tenants.has(tenant)) {
      throw new McpTenantsError(
        ErrorCode.TENANT_UNKNOWN,
        `tenant "${tenant}" is not in ${options.manifest}; known: ${[...manifest.tenants.keys()].join(', ') || 'none'}`,
      );
    }
    jwt = await signToken(manifest.auth, {
      tenantId: tenant,
      userId: options.user ?? userInfo().username,
      permissions: options.permissions ? parsePermissionList(options.permissions) : undefined,
      ttlSeconds,
    });
  }
  process.stdout.write(`${jwt}\n`);
}
