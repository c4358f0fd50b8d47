import { closeSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../errors.js';

export const DATABASE_FILE_NAME = 'tenant.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  tenant_id  TEXT NOT NULL,
  data_key   TEXT NOT NULL,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  updated_by TEXT,
  PRIMARY KEY (tenant_id, data_key)
)`;

/**
 * Opens (creating if needed) the tenant's SQLite file, readable by its owner
 * only. The folder is normally made 0700 by the supervisor; when missing it is
 * created that way, and an existing folder is left as it is.
 */
export function openTenantDatabase(dataDir: string): Database.Database {
  const file = join(dataDir, DATABASE_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Create the file 0600 before SQLite does (it would use 0644); SQLite then
    // gives the -wal and -shm files the same mode as the database file.
    const fd = openSync(file, 'a', 0o600);
    try {
      fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable in WAL mode except for the last commits on power loss.
    db.pragma('synchronous = NORMAL');
    // Two processes never share a tenant's file in normal use, but a supervisor
    // restarting a child can briefly overlap with the old one.
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    return db;
  } catch (error) {
    db?.close();
    throw new McpTenantsError(ErrorCode.INTERNAL, `cannot open ${file}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
