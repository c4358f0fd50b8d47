import { closeSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

/**
 * The supervisor's own database, beside the tenant folders (a tenant id
 * cannot contain a dot, so no tenant folder can take this name).
 */
export const SUPERVISOR_DATABASE_FILE = 'mcp-tenants.db';

export function supervisorDatabasePath(dataDir: string): string {
  return join(dataDir, SUPERVISOR_DATABASE_FILE);
}

/**
 * Opens (creating if needed, mode 0600) the supervisor's SQLite database:
 * usage counters, metrics and the audit trail. WAL mode, so `report` can read
 * while `serve` writes and several supervisors on one machine share counters.
 * Each concern creates its own tables with `CREATE TABLE IF NOT EXISTS`.
 */
export function openSupervisorDatabase(
  dataDir: string,
  options: { readonly?: boolean } = {},
): Database.Database {
  const file = supervisorDatabasePath(dataDir);
  let db: Database.Database | undefined;
  try {
    if (options.readonly) {
      db = new Database(file, { readonly: true, fileMustExist: true });
    } else {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const fd = openSync(file, 'a', 0o600);
      try {
        fchmodSync(fd, 0o600);
      } finally {
        closeSync(fd);
      }
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    // Several supervisors (e.g. one `serve --stdio` per desktop host) may write at once.
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (error) {
    db?.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new McpTenantsError(ErrorCode.INTERNAL, `cannot open ${file}: ${reason}`, {
      cause: error,
    });
  }
}
