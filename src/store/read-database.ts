import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
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
