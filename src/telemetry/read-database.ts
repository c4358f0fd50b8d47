import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../errors.js';
import { openSupervisorDatabase, supervisorDatabasePath } from './database.js';

/**
 * The supervisor's database for `report` and `audit`: read-only, so it can
 * be read while `serve` writes (WAL) and after it stopped.
 */
export function openForReading(dataDir: string): Database.Database {
  const file = supervisorDatabasePath(dataDir);
  if (!existsSync(file)) {
    throw new McpTenantsError(
      ErrorCode.NOT_FOUND,
      `no telemetry yet: ${file} does not exist; \`mcp-tenants serve\` creates it (check server.data_dir in the manifest)`,
    );
  }
  return openSupervisorDatabase(dataDir, { readonly: true });
}

/** Size of a folder's files, in MiB (the tenant's storage); null when it does not exist. */
export function folderSizeMb(dir: string): number | null {
  if (!existsSync(dir)) return null;
  let bytes = 0;
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) bytes += statSync(child).size;
    }
  };
  walk(dir);
  return bytes / 1024 / 1024;
}
