import type Database from 'better-sqlite3';

/** For readers on a read-only connection: does the table exist yet? */
export function hasTable(db: Database.Database, name: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined
  );
}
