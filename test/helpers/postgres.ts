import { postgresBinDir, startPostgresServer } from './postgres-server.mjs';

// The server itself is started by postgres-server.mjs, shared with the benchmark.
export { postgresBinDir };

/**
 * A real PostgreSQL server for a test file: `initdb` and `pg_ctl` into a
 * temporary folder, on a free loopback port, password-authenticated (so a
 * tenant's role really cannot log in as another), fsync off. As root it runs
 * as the `postgres` user (or `nobody`), since the server refuses root.
 */
export interface TestPostgres {
  /** A superuser's URL, for the store (it creates the tenants' roles). */
  url: string;
  port: number;
  /** A fresh, empty database on this server; its superuser URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

const binDir = postgresBinDir();

/**
 * Why PostgreSQL tests skip here, or undefined when they run. In CI they
 * never skip: `.ci/run` installs Debian's postgresql, and its absence fails.
 */
export const postgresSkipReason: string | undefined = (() => {
  if (binDir !== undefined) return undefined;
  if (process.env.CI) {
    throw new Error("PostgreSQL server binaries not found; .ci/run installs Debian's postgresql");
  }
  const reason =
    "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql to run these tests";
  console.warn(`skipping: ${reason}`);
  return reason;
})();

export async function startPostgres(): Promise<TestPostgres> {
  if (binDir === undefined) throw new Error(postgresSkipReason);
  return startPostgresServer({ binDir });
}
