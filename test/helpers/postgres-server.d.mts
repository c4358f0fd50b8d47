/** A running throwaway PostgreSQL server (see postgres-server.mjs). */
export interface PostgresServer {
  /** A superuser's URL, on the `postgres` database. */
  url: string;
  port: number;
  /** The server's data folder (holds postmaster.pid). */
  dataDir: string;
  /** The postmaster's pid, or undefined once it is gone. */
  postmasterPid(): number | undefined;
  /** A fresh, empty database on this server; its superuser URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server at once and removes its folder; synchronous, idempotent. */
  stop(): void;
}

/** Debian's server binaries, or those on PATH; undefined when absent. */
export function postgresBinDir(): string | undefined;

/** Why no server can be started here (no binaries), or undefined when one can. */
export function postgresMissingReason(binDir?: string | undefined): string | undefined;

/** initdb + pg_ctl start into a temporary folder, on a free loopback port. */
export function startPostgresServer(options?: {
  binDir?: string | undefined;
}): Promise<PostgresServer>;

/** A port free on 127.0.0.1 right now. */
export function freePort(host?: string): Promise<number>;
