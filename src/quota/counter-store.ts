import type Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS quota_counters (
  scope  TEXT    NOT NULL,
  bucket INTEGER NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (scope, bucket)
) WITHOUT ROWID`;

/**
 * Usage counters in the supervisor's database: one row per scope (e.g.
 * `minute:tenant:acme`, `day:tool_calls:acme`) and bucket. Every supervisor
 * process on the machine adds to the same rows, so they share one count.
 */
export class CounterStore {
  private readonly addStatement: Database.Statement<[string, number, number]>;
  private readonly readStatement: Database.Statement<
    [string, number],
    { bucket: number; count: number }
  >;
  private readonly sumStatement: Database.Statement<[string, number], number | null>;
  private readonly pruneStatement: Database.Statement<[string, string, number]>;

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.addStatement = db.prepare(
      `INSERT INTO quota_counters (scope, bucket, count) VALUES (?, ?, ?)
       ON CONFLICT (scope, bucket) DO UPDATE SET count = count + excluded.count`,
    );
    this.readStatement = db.prepare(
      'SELECT bucket, count FROM quota_counters WHERE scope = ? AND bucket >= ?',
    );
    this.sumStatement = db
      .prepare<[string, number], number | null>(
        'SELECT sum(count) FROM quota_counters WHERE scope = ? AND bucket >= ?',
      )
      .pluck();
    this.pruneStatement = db.prepare(
      'DELETE FROM quota_counters WHERE scope >= ? AND scope < ? AND bucket < ?',
    );
  }

  add(scope: string, bucket: number, delta: number): void {
    this.addStatement.run(scope, bucket, delta);
  }

  /** The count of a scope from `firstBucket` on: every process's. */
  total(scope: string, firstBucket: number): number {
    return this.sumStatement.get(scope, firstBucket) ?? 0;
  }

  /** Buckets of a scope from `firstBucket` on (to tell when a full window frees up). */
  read(scope: string, firstBucket: number): Map<number, number> {
    const counts = new Map<number, number>();
    for (const row of this.readStatement.all(scope, firstBucket)) counts.set(row.bucket, row.count);
    return counts;
  }

  /** Deletes the buckets older than `beforeBucket` of every scope starting with `prefix`. */
  prune(prefix: string, beforeBucket: number): void {
    // A range on the primary key: from the prefix up to the prefix with its last character bumped.
    const last = prefix.charCodeAt(prefix.length - 1);
    const upper = prefix.slice(0, -1) + String.fromCharCode(last + 1);
    this.pruneStatement.run(prefix, upper, beforeBucket);
  }

  /** Runs `body` holding the write lock, so a read-decide-write sees no other writer. */
  exclusive<T>(body: () => T): T {
    return this.db.transaction(body).immediate();
  }
}
