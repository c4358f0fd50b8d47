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
  /** Set when the data lives in PostgreSQL instead of the SQLite file. */
  store?: PgStoreOptions;
}

/** The tenant's schema in the PostgreSQL store, reached with the tenant's own role. */
export interface PgStoreOptions {
  /** postgres:// with the tenant role's name and password: never logged. */
  url: string;
  schema: string;
  /**
   * The epoch of this node's lease on the tenant at the child's start; every
   * write checks it is still the current one. Absent: a store without leases.
   */
  leaseEpoch?: number;
}

/** Variables the supervisor sets for a tenant whose data is in PostgreSQL. */
export const STORE_URL_ENV = 'MCP_TENANT_STORE_URL';
export const STORE_SCHEMA_ENV = 'MCP_TENANT_STORE_SCHEMA';
export const LEASE_EPOCH_ENV = 'MCP_TENANT_LEASE_EPOCH';

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
  const store = parseStore(env);
  return {
    tenantId,
    dataDir,
    maxStorageMb: parseStorageMb(env.MCP_TENANT_MAX_STORAGE_MB),
    toolsModules: parseModules(env.MCP_TENANT_TOOLS_MODULES),
    ...(store !== undefined && { store }),
  };
}

/** MCP_TENANT_STORE_URL and its companions; undefined without the URL (the SQLite file). */
function parseStore(env: NodeJS.ProcessEnv): PgStoreOptions | undefined {
  const url = env[STORE_URL_ENV];
  if (url === undefined || url === '') return undefined;
  // The value holds a password: messages name the variable, never print it.
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `${STORE_URL_ENV} must be a postgres:// URL; the supervisor sets it`,
    );
  }
  const schema = env[STORE_SCHEMA_ENV];
  if (schema === undefined || schema === '') {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `${STORE_SCHEMA_ENV} is not set; the supervisor sets it together with ${STORE_URL_ENV}`,
    );
  }
  const epoch = env[LEASE_EPOCH_ENV];
  if (epoch === undefined || epoch === '') return { url, schema };
  const leaseEpoch = Number(epoch);
  if (!/^\d+$/.test(epoch) || !Number.isSafeInteger(leaseEpoch)) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `${LEASE_EPOCH_ENV} ${JSON.stringify(epoch)} is not a lease epoch (a whole number)`,
    );
  }
  return { url, schema, leaseEpoch };
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
