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
      switchToWal(db);
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

/** How long processes starting together may wait for each other to turn on WAL. */
const WAL_SWITCH_MS = 5_000;

/**
 * Turns on WAL. Processes opening a new file at once (`serve --workers`,
 * several `serve --stdio`) race for it: SQLite answers SQLITE_BUSY at once
 * rather than wait (its busy handler would risk a deadlock there), so the
 * switch is retried until the file is WAL or the time is up.
 */
function switchToWal(db: Database.Database): void {
  const deadline = Date.now() + WAL_SWITCH_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
      if (!busy || Date.now() > deadline) throw error;
      // A few milliseconds, synchronously: this runs once, while the process starts.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}
