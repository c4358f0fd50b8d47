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

/**
 * An advisory lock's key, salted with a value only the store's own user can
 * read (`mcp_lock_salt`): the tenants' roles share the database and may take
 * advisory locks too, but cannot guess the supervisor's keys to hold them.
 * `text` is an SQL expression naming what is locked.
 */
export function lockKey(text: string): string {
  return `hashtextextended(${text}, (SELECT salt FROM mcp_lock_salt LIMIT 1))`;
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
  // Current already (every start but the first after an upgrade): no lock to wait for.
  if (await isCurrent(store, migrations)) return [];
  return store.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS mcp_lock_salt (salt BIGINT NOT NULL)');
    await client.query(
      'INSERT INTO mcp_lock_salt SELECT (random() * 9e18)::bigint WHERE NOT EXISTS (SELECT 1 FROM mcp_lock_salt)',
    );
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

/** Whether every migration is applied (read without a lock). */
export async function isCurrent(
  store: PostgresStore,
  migrations: readonly Migration[],
): Promise<boolean> {
  const table = await store.query<{ present: boolean }>(
    "SELECT to_regclass('mcp_schema_migrations') IS NOT NULL AND to_regclass('mcp_lock_salt') IS NOT NULL AS present",
  );
  if (!table.rows[0]?.present) return false;
  const done = await store.query<{ key: string }>(
    "SELECT component || '/' || version AS key FROM mcp_schema_migrations",
  );
  const applied = new Set(done.rows.map((row) => row.key));
  return migrations.every((migration) =>
    applied.has(`${migration.component}/${migration.version}`),
  );
}
