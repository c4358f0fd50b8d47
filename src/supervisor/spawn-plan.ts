import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, McpTenantsError } from '../errors.js';
import type { TenantConfig } from '../manifest/types.js';
import type { SpawnPlan } from './child-process.js';

/**
 * The compiled entry of the built-in tenant server. Resolved the same way
 * from `src/` (tests) and `dist/` (installed), so the child always runs
 * compiled JavaScript, never through a TypeScript loader.
 */
export const BUILTIN_CHILD_ENTRY = fileURLToPath(
  new URL('../../dist/tenant-server/main.js', import.meta.url),
);

/** Variables a child may inherit from the supervisor; never its secrets. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'SYSTEMROOT'] as const;

export function tenantDataDir(dataDir: string, tenantId: string): string {
  return join(dataDir, tenantId);
}

/**
 * Creates the tenant's own folder, readable by the supervisor's user only.
 * A symbolic link planted in its place (say, to another tenant's folder) is
 * refused, never followed: the child would run in, and write to, its target.
 */
export function ensureTenantDir(dataDir: string, tenantId: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const dir = tenantDataDir(dataDir, tenantId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!lstatSync(dir).isDirectory()) {
    throw new McpTenantsError(
      ErrorCode.CHILD_UNAVAILABLE,
      `the data folder of tenant "${tenantId}" is not a folder of its own (a symbolic link?); the supervisor will not follow it: replace it with a real folder`,
    );
  }
  chmodSync(dir, 0o700);
  return dir;
}

/** Decides command, arguments, working directory and environment of a tenant's child. */
export function spawnPlan(
  tenant: TenantConfig,
  dataDir: string,
  parentEnv: NodeJS.ProcessEnv = process.env,
): SpawnPlan {
  const cwd = ensureTenantDir(dataDir, tenant.id);
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = parentEnv[name];
    if (value !== undefined) env[name] = value;
  }
  env.HOME = cwd;
  if (tenant.command === undefined) {
    Object.assign(env, tenant.env, {
      MCP_TENANT_ID: tenant.id,
      MCP_TENANT_DATA_DIR: cwd,
      MCP_TENANT_MAX_STORAGE_MB: String(tenant.quotas.max_storage_mb),
    });
    if (tenant.tools_modules.length > 0) {
      env.MCP_TENANT_TOOLS_MODULES = JSON.stringify(tenant.tools_modules);
    }
    return { command: process.execPath, args: [BUILTIN_CHILD_ENTRY], cwd, env };
  }
  Object.assign(env, tenant.env);
  return { command: tenant.command, args: [...tenant.args], cwd, env };
}
