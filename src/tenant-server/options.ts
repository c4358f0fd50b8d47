import { resolve } from 'node:path';
import { DEFAULT_QUOTAS, TENANT_ID_PATTERN } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

/** Everything the built-in tenant server needs to know to run. */
export interface TenantServerOptions {
  tenantId: string;
  /** The tenant's own folder; the SQLite file is `<dataDir>/tenant.db`. */
  dataDir: string;
  /** Storage quota in MiB (the manifest's `max_storage_mb`). */
  maxStorageMb: number;
  /** The tenant's own tool modules (absolute paths), from the manifest's `tools_modules`. */
  toolsModules?: string[];
}

/**
 * Reads the options from the environment the supervisor gives the child.
 * Throws USAGE, naming the variable and the bad value, so the entry can print
 * one line and exit 2.
 */
export function tenantServerOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): TenantServerOptions {
  const tenantId = env.MCP_TENANT_ID;
  if (tenantId === undefined || tenantId === '') {
    throw new McpTenantsError(ErrorCode.USAGE, 'MCP_TENANT_ID is not set; the supervisor sets it');
  }
  // The id names a folder and appears in resource URIs: keep it to the manifest's alphabet.
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `MCP_TENANT_ID ${JSON.stringify(tenantId)} is not a valid tenant id (${TENANT_ID_PATTERN.source})`,
    );
  }
  const dataDir = resolve(cwd, env.MCP_TENANT_DATA_DIR || '.');
  return {
    tenantId,
    dataDir,
    maxStorageMb: parseStorageMb(env.MCP_TENANT_MAX_STORAGE_MB),
    toolsModules: parseModules(env.MCP_TENANT_TOOLS_MODULES),
  };
}

/** A JSON array of absolute paths (the supervisor resolved them against the manifest). */
function parseModules(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `MCP_TENANT_TOOLS_MODULES must be a JSON array of module paths, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function parseStorageMb(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_QUOTAS.max_storage_mb;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `MCP_TENANT_MAX_STORAGE_MB ${JSON.stringify(raw)} is not a positive number of MiB`,
    );
  }
  return value;
}
