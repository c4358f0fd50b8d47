import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

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

/** SQLite's companions of the database file, which it would follow if they were links. */
const COMPANIONS = ['', '-wal', '-shm', '-journal'];

// Open for writing, create 0600, and never through a symbolic link (ELOOP).
const OPEN_FOR_WRITING =
  constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;

/**
 * Opens (creating if needed) the tenant's SQLite file, readable by its owner
 * only. The folder is normally made 0700 by the supervisor; when missing it is
 * created that way, and an existing folder is left as it is.
 *
 * Symbolic links planted in the folder (tenant.db pointing at another
 * tenant's file, say) are refused, not followed. A file or folder that cannot
 * be written (read-only, immutable, a read-only mount) is opened read-only:
 * reads keep working and writes fail with a clear error (`db.readonly`).
 */
export function openTenantDatabase(dataDir: string): Database.Database {
  const file = join(dataDir, DATABASE_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    refuseLinks(file);
    if (!createPrivate(file)) return openReadOnly(file);
    db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
    } catch (error) {
      // The file is writable but its folder is not (read-only mount, immutable):
      // SQLite finds out at the first access.
      if (!cannotOpen(error)) throw error;
      db.close();
      db = undefined;
      return openReadOnly(file);
    }
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

function openReadOnly(file: string): Database.Database {
  let db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('schema_version'); // SQLite opens the file at the first access
  } catch (error) {
    db.close();
    if (!cannotOpen(error)) throw error;
    // SQLite cannot create the -shm file a WAL reader needs in a folder nobody
    // can write. Nothing can change the data there either, so a private copy
    // (with its committed WAL) reads exactly the same.
    db = new Database(snapshotOf(file), { readonly: true, fileMustExist: true });
  }
  db.pragma('busy_timeout = 5000');
  return db;
}

function snapshotOf(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-readonly-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, DATABASE_FILE_NAME);
  copyFileSync(file, copy);
  if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`);
  return copy;
}

function cannotOpen(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'SQLITE_CANTOPEN';
}

/** A symbolic link (or anything but a regular file) where SQLite's files belong is refused. */
function refuseLinks(file: string): void {
  for (const suffix of COMPANIONS) {
    const path = `${file}${suffix}`;
    let isFile: boolean;
    try {
      isFile = lstatSync(path).isFile();
    } catch {
      continue; // absent: SQLite creates it
    }
    if (!isFile) {
      throw new Error(
        `${path} is a symbolic link or not a regular file; a tenant's data is never read through one: remove it`,
      );
    }
  }
}

/**
 * Creates the file 0600 before SQLite does (it would use 0644; SQLite then
 * gives the -wal and -shm files the same mode). False when the file exists
 * but cannot be written.
 */
function createPrivate(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FOR_WRITING, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return false;
    throw error;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  return true;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
