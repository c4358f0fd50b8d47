import type { PostgresStore } from './postgres.js';

/**
 * One versioned change of the PostgreSQL schema, owned by the concern whose
 * tables it makes (`component`: quota, audit, cluster, ...). Versions count
 * up within a component; an applied migration is never edited, only followed.
 */
export interface Migration {
  component: string;
  version: number;
  /** What it does, for the log and the migrations table. */
  name: string;
  sql: string;
}

/** Any constant: every node takes the same advisory lock to migrate. */
const MIGRATION_LOCK = 0x6d6370_7464; // "mcptd"

/**
 * Applies what is missing, in order, in one transaction under an advisory
 * lock: nodes starting together on an empty database migrate once, the
 * others wait and then find everything applied. Returns what was applied.
 */
export async function migrate(
  store: PostgresStore,
  migrations: readonly Migration[],
): Promise<string[]> {
  return store.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS mcp_schema_migrations (
      component  TEXT NOT NULL,
      version    INTEGER NOT NULL,
      name       TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version)
    )`);
    const done = await client.query<{ component: string; version: number }>(
      'SELECT component, version FROM mcp_schema_migrations',
    );
    const applied = new Set(done.rows.map((row) => `${row.component}/${row.version}`));
    const names: string[] = [];
    for (const migration of migrations) {
      const key = `${migration.component}/${migration.version}`;
      if (applied.has(key)) continue;
      await client.query(migration.sql);
      await client.query(
        'INSERT INTO mcp_schema_migrations (component, version, name) VALUES ($1, $2, $3)',
        [migration.component, migration.version, migration.name],
      );
      names.push(`${key} ${migration.name}`);
    }
    return names;
  });
}
