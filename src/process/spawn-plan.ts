import { chmodSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TenantConfig } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { SpawnPlan } from './child-process.js';
import type { Who } from './reachable.js';
import { spawnIdentity } from './run-as.js';
import { handOver } from './tenant-owner.js';
import { assertReachable } from './tenant-reach.js';

/**
 * The entry of the built-in tenant server: the one-file bundle of the
 * compiled child (`npm run build`; it loads in about half the time), else
 * the compiled module itself — also when the bundle is older than it, left
 * behind by a build that skipped the bundling step. Resolved the same way
 * from `src/` (tests) and `dist/` (installed), so the child always runs
 * compiled JavaScript, never through a TypeScript loader.
 */
export const BUILTIN_CHILD_ENTRY = builtinChildEntry(
  fileURLToPath(new URL('../../dist/tenant-server/main.js', import.meta.url)),
  fileURLToPath(new URL('../../dist/tenant-server/bundle.mjs', import.meta.url)),
);

function builtinChildEntry(compiled: string, bundle: string): string {
  // As for the CLI: MCP_TENANTS_BUNDLE=0 runs the compiled modules (a profile names our files).
  if (process.env.MCP_TENANTS_BUNDLE === '0') return compiled;
  try {
    return statSync(bundle).mtimeMs >= statSync(compiled).mtimeMs ? bundle : compiled;
  } catch {
    return compiled;
  }
}

/** Variables a child may inherit from the supervisor; never its secrets. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'SYSTEMROOT'] as const;

export function tenantDataDir(dataDir: string, tenantId: string): string {
  return join(dataDir, tenantId);
}

/**
 * Creates the tenant's own folder, readable by its owner only: the user the
 * tenant's child runs as (`owner`), else the supervisor's user. A symbolic
 * link planted in its place (say, to another tenant's folder) is refused,
 * never followed: the child would run in, and write to, its target.
 */
export function ensureTenantDir(dataDir: string, tenantId: string, owner?: Who): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // A child of another user must pass through the data folder to its own;
  // search only (o+x): it cannot list the folder or open the supervisor's
  // database (0600), and each tenant folder is 0700 to its own user.
  const mode = statSync(dataDir).mode & 0o777;
  if (owner !== undefined && (mode & 0o001) === 0) chmodSync(dataDir, mode | 0o011);
  const dir = tenantDataDir(dataDir, tenantId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!lstatSync(dir).isDirectory()) {
    throw new McpTenantsError(
      ErrorCode.CHILD_UNAVAILABLE,
      `the data folder of tenant "${tenantId}" is not a folder of its own (a symbolic link?); the supervisor will not follow it: replace it with a real folder`,
    );
  }
  // A root supervisor takes back the folder of a tenant that lost its `user:`,
  // so its former uid (perhaps another tenant's now) keeps no way in.
  const supervisor =
    process.geteuid?.() === 0 ? { uid: 0, gid: process.getegid?.() ?? 0 } : undefined;
  const user = owner ?? supervisor;
  if (user !== undefined) handOver(dir, user);
  // Only when needed: a folder made read-only (immutable, a read-only mount)
  // refuses even a chmod to the mode it has, and its child can still read.
  if ((statSync(dir).mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

/** Decides command, arguments, working directory and environment of a tenant's child. */
export function spawnPlan(
  tenant: TenantConfig,
  dataDir: string,
  parentEnv: NodeJS.ProcessEnv = process.env,
): SpawnPlan {
  // Refused before anything is created: a non-root supervisor cannot switch users.
  const identity = tenant.run_as && spawnIdentity(tenant.id, tenant.run_as);
  const cwd = ensureTenantDir(dataDir, tenant.id, identity);
  assertReachable(tenant, cwd, BUILTIN_CHILD_ENTRY);
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
    return { command: process.execPath, args: [BUILTIN_CHILD_ENTRY], cwd, env, identity };
  }
  Object.assign(env, tenant.env);
  return { command: tenant.command, args: [...tenant.args], cwd, env, identity };
}
