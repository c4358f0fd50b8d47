import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { TENANT_ID_PATTERN } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { lockKey } from './migrations.js';
import type { PostgresStore, Queryable } from './postgres.js';
import { TENANT_DATA_SCHEMA } from './tenant-data-migrations.js';

/** The variables a built-in tenant's child needs to reach its data in PostgreSQL. */
export const TENANT_STORE_URL_ENV = 'MCP_TENANT_STORE_URL';
export const TENANT_STORE_SCHEMA_ENV = 'MCP_TENANT_STORE_SCHEMA';

/** The tenant's table in its schema (the tenant server's queries name it too). */
export const ENTRIES_TABLE = 'entries';

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;
const NAME_PREFIX = 'mcp_';
/** Hex digits of the database's name in role names: roles are shared by every database of a server. */
const DATABASE_TAG_LENGTH = 6;
/** Hex digits of the tenant id's hash in the names of long ids. */
const ID_HASH_LENGTH = 12;

/** A tenant's children (two at most while one replaces another) and its tool modules need no more. */
const TENANT_CONNECTION_LIMIT = 8;
/** PostgreSQL's own default for SCRAM-SHA-256 verifiers. */
const SCRAM_ITERATIONS = 4096;

/** Advisory lock classes (two-key form, apart from the migrations' one-key lock). */
// Advisory locks (keys salted, see lockKey): nodes provisioning one tenant at once take turns,
// and GRANTs on the shared functions are made one at a time (concurrent ones can fail).

/** Connection settings a tenant's child keeps from the store's URL; credentials are never among them. */
const KEPT_URL_PARAMS = new Set([
  'host',
  'port',
  'ssl',
  'sslmode',
  'sslrootcert',
  'uselibpqcompat',
  'connect_timeout',
  'keepalives',
  'keepalives_idle',
]);

const TENANT_ROLE_COMMENT = 'mcp-tenants tenant role';

const USER_INFO = /^(postgres(?:ql)?:\/\/)[^@/?#]*@/;

const pbkdf2Async = promisify(pbkdf2);

interface RoleRow {
  oid: number;
  rolsuper: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
  comment: string | null;
}

interface Names {
  role: string;
  schema: string;
}

/**
 * The built-in tenant server's data on a PostgreSQL store, one tenant from
 * another as far apart as a file of its own: per tenant a login role
 * (NOINHERIT, no attribute, no membership) and a schema the supervisor owns
 * with the tenant's table, on which that role may use exactly its table's
 * rows and nothing else; other tenants' schemas and the supervisor's tables
 * grant it nothing. Its password is new at each start of its child.
 *
 * Names: `mcp_<tag>_<id>` for both role and schema, `tag` being hex of the
 * database's name, so two databases of one server never share a tenant's
 * role. Ids too long for PostgreSQL's 63 bytes keep a prefix and a hash.
 */
export class TenantDataRoles {
  private database: Promise<{ name: string; tag: string }> | undefined;

  constructor(private readonly store: PostgresStore) {}

  /**
   * Makes (or repairs) the tenant's role, schema and table, gives the role a
   * fresh random password, and returns the variables for its child:
   * MCP_TENANT_STORE_URL (the store's host, port and database with the
   * tenant role's name and password, never the store's own) and
   * MCP_TENANT_STORE_SCHEMA. Idempotent; nodes of one store doing it at
   * once for one tenant take turns.
   */
  async credentials(tenantId: string): Promise<Record<string, string>> {
    assertTenantId(tenantId);
    const database = await this.databaseFacts();
    const password = randomBytes(24).toString('base64url');
    const verifier = await scramVerifier(password);
    try {
      const names = await this.store.transaction(async (client) => {
        await client.query(`SELECT pg_advisory_xact_lock(${lockKey("'provision:' || $1")})`, [
          tenantId,
        ]);
        const names = await registeredNames(client, tenantId, database.tag);
        await provisionRole(client, tenantId, names.role, verifier);
        await provisionSchema(client, tenantId, names);
        await grantShared(client, names.role);
        return names;
      });
      return {
        [TENANT_STORE_URL_ENV]: tenantUrl(this.storeUrl(), database.name, names.role, password),
        [TENANT_STORE_SCHEMA_ENV]: names.schema,
      };
    } catch (error) {
      throw this.store.explain(provisionFailure(tenantId, error));
    }
  }

  /** Bytes of keys and values each tenant stores, for reports (every provisioned tenant). */
  async dataBytes(): Promise<Map<string, number>> {
    const result = await this.store.query<{ tenant: string; bytes: number }>(
      `SELECT tenant, used_bytes::float8 AS bytes FROM ${TENANT_DATA_SCHEMA}.tenants ORDER BY tenant`,
    );
    return new Map(result.rows.map((row) => [row.tenant, row.bytes]));
  }

  private storeUrl(): string {
    const url = this.store.pool.options.connectionString;
    if (url === undefined) {
      throw new McpTenantsError(
        ErrorCode.INTERNAL,
        'the PostgreSQL store was opened without a URL',
      );
    }
    return url;
  }

  private databaseFacts(): Promise<{ name: string; tag: string }> {
    this.database ??= this.store
      .query<{ name: string; encoding: string }>(
        'SELECT current_database() AS name, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()',
      )
      .then((result) => {
        const row = result.rows[0];
        if (!row) throw new McpTenantsError(ErrorCode.INTERNAL, 'current_database() not found');
        // Keys are compared and measured as UTF-8; another encoding would change both.
        if (row.encoding !== 'UTF8') {
          throw new McpTenantsError(
            ErrorCode.STORE_UNAVAILABLE,
            `the PostgreSQL store's database ${row.name} has encoding ${row.encoding}; tenant data needs UTF8: ` +
              `create the database with ENCODING 'UTF8' (and TEMPLATE template0) and point server.store at it`,
          );
        }
        const tag = createHash('sha256')
          .update(row.name, 'utf8')
          .digest('hex')
          .slice(0, DATABASE_TAG_LENGTH);
        return { name: row.name, tag };
      })
      .catch((error: unknown) => {
        this.database = undefined; // a failure is not kept: the next start asks again
        throw error;
      });
    return this.database;
  }
}

/** The name of a tenant's role (and schema) on a database of the given tag. */
export function tenantObjectName(tag: string, tenantId: string): string {
  const head = `${NAME_PREFIX}${tag}_`;
  if (Buffer.byteLength(head + tenantId) <= MAX_IDENTIFIER_BYTES) return head + tenantId;
  const hash = createHash('sha256').update(tenantId, 'utf8').digest('hex').slice(0, ID_HASH_LENGTH);
  const keep = MAX_IDENTIFIER_BYTES - head.length - 1 - hash.length;
  return `${head}${tenantId.slice(0, keep)}_${hash}`;
}

/** The names on record for the tenant, registering new ones on its first provisioning. */
async function registeredNames(client: Queryable, tenantId: string, tag: string): Promise<Names> {
  const known = await client.query<{ role_name: string; schema_name: string }>(
    `SELECT role_name, schema_name FROM ${TENANT_DATA_SCHEMA}.tenants WHERE tenant = $1`,
    [tenantId],
  );
  const row = known.rows[0];
  if (row) return { role: row.role_name, schema: row.schema_name };
  const name = tenantObjectName(tag, tenantId);
  const taken = await client.query<{ tenant: string }>(
    `SELECT tenant FROM ${TENANT_DATA_SCHEMA}.tenants WHERE role_name = $1 OR schema_name = $1`,
    [name],
  );
  const other = taken.rows[0];
  if (other) {
    // Only the hashed names of long ids can meet another tenant's name.
    throw new McpTenantsError(
      ErrorCode.INTERNAL,
      `the PostgreSQL name ${name} of tenant "${tenantId}" is already tenant "${other.tenant}"'s; rename one of the two tenants`,
    );
  }
  await client.query(
    `INSERT INTO ${TENANT_DATA_SCHEMA}.tenants (tenant, role_name, schema_name) VALUES ($1, $2, $2)`,
    [tenantId, name],
  );
  // A role left by this very database (dropped and made again under its name) is adopted below.
  return { role: name, schema: name };
}

async function provisionRole(
  client: Queryable,
  tenantId: string,
  role: string,
  verifier: string,
): Promise<void> {
  const r = ident(role);
  const found = await client.query<RoleRow>(
    `SELECT oid::int AS oid, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
            shobj_description(oid, 'pg_authid') AS comment
       FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  const existing = found.rows[0];
  // The password goes as a SCRAM verifier: the plain text never reaches the server or its logs.
  const login = `LOGIN NOINHERIT CONNECTION LIMIT ${TENANT_CONNECTION_LIMIT} PASSWORD ${literal(verifier)}`;
  if (!existing) {
    await client.query(`CREATE ROLE ${r} ${login}`);
    await client.query(
      `COMMENT ON ROLE ${r} IS ${literal(`${TENANT_ROLE_COMMENT} of tenant ${tenantId}`)}`,
    );
    await boundRole(client, r);
    return;
  }
  if (!existing.comment?.startsWith(TENANT_ROLE_COMMENT)) {
    throw new McpTenantsError(
      ErrorCode.INTERNAL,
      `a PostgreSQL role ${role} exists that mcp-tenants did not make; it will not take it over: drop or rename that role`,
    );
  }
  const extra = [
    existing.rolsuper && 'NOSUPERUSER',
    existing.rolcreaterole && 'NOCREATEROLE',
    existing.rolcreatedb && 'NOCREATEDB',
    existing.rolreplication && 'NOREPLICATION',
    existing.rolbypassrls && 'NOBYPASSRLS',
  ].filter((word): word is string => typeof word === 'string');
  if (extra.length > 0) await client.query(`ALTER ROLE ${r} ${extra.join(' ')}`);
  await client.query(`ALTER ROLE ${r} ${login}`);
  await boundRole(client, r);
  // NOINHERIT stops inherited rights, not SET ROLE: a role granted to it is taken back.
  const groups = await client.query<{ name: string }>(
    'SELECT roleid::regrole::text AS name FROM pg_auth_members WHERE member = $1',
    [existing.oid],
  );
  for (const group of groups.rows) await client.query(`REVOKE ${group.name} FROM ${r}`);
}

/**
 * What one statement or transaction of a tenant's role may hold: a child's
 * writes are short, and nothing it does may keep locks (its lease row, say)
 * or a pooled connection for long.
 */
async function boundRole(client: Queryable, role: string): Promise<void> {
  for (const [setting, value] of ROLE_BOUNDS) {
    await client.query(`ALTER ROLE ${role} SET ${setting} = ${literal(value)}`);
  }
}

const ROLE_BOUNDS = [
  ['statement_timeout', '10s'],
  ['lock_timeout', '5s'],
  ['idle_in_transaction_session_timeout', '10s'],
] as const;

async function provisionSchema(client: Queryable, tenantId: string, names: Names): Promise<void> {
  const s = ident(names.schema);
  const r = ident(names.role);
  const table = `${s}.${ident(ENTRIES_TABLE)}`;
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  const owners = await client.query<{ schema_ours: boolean; table_ours: boolean | null }>(
    `SELECT n.nspowner = me.oid AS schema_ours, (SELECT c.relowner = me.oid FROM pg_class c
              WHERE c.relnamespace = n.oid AND c.relname = $2) AS table_ours
       FROM pg_namespace n, (SELECT oid FROM pg_roles WHERE rolname = current_user) me
      WHERE n.nspname = $1`,
    [names.schema, ENTRIES_TABLE],
  );
  const owned = owners.rows[0];
  // The owner of an object can grant itself anything on it: only the supervisor may own them.
  if (!owned?.schema_ours || owned.table_ours === false) {
    throw new McpTenantsError(
      ErrorCode.INTERNAL,
      `schema ${names.schema} (tenant "${tenantId}") or its table belongs to another role than the store's; ` +
        `give it back to the store's user (ALTER SCHEMA … OWNER TO / ALTER TABLE … OWNER TO)`,
    );
  }
  if (owned.table_ours === null) {
    // Keys compare as bytes (COLLATE "C": code point order, like the SQLite file);
    // values are bytes too, since text cannot hold U+0000.
    await client.query(`CREATE TABLE ${table} (
      data_key   TEXT COLLATE "C" PRIMARY KEY,
      value      BYTEA NOT NULL,
      updated_at TIMESTAMPTZ NOT NULL,
      updated_by TEXT
    )`);
  }
  const trigger = await client.query(
    `SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = 'count_usage'`,
    [table],
  );
  if (trigger.rowCount === 0) {
    await client.query(
      `CREATE TRIGGER count_usage AFTER INSERT OR UPDATE OR DELETE ON ${table}
       FOR EACH ROW EXECUTE FUNCTION ${TENANT_DATA_SCHEMA}.count_usage(${literal(tenantId)})`,
    );
    // Counted afresh: whatever the table holds now is what the trigger counts from.
    await client.query(
      `UPDATE ${TENANT_DATA_SCHEMA}.tenants SET
         used_bytes = (SELECT coalesce(sum(octet_length(data_key) + octet_length(value)), 0) FROM ${table}),
         used_rows = (SELECT count(*) FROM ${table})
       WHERE tenant = $1`,
      [tenantId],
    );
  }
  // Stated anew at each start, so a grant made by hand does not last. No
  // TRUNCATE (it fires no row trigger), no CREATE in the schema (tables out
  // of the quota), no UPDATE of a key.
  await client.query(`
    REVOKE ALL ON SCHEMA ${s} FROM PUBLIC, ${r};
    GRANT USAGE ON SCHEMA ${s} TO ${r};
    REVOKE ALL ON TABLE ${table} FROM PUBLIC, ${r};
    GRANT SELECT, INSERT, DELETE ON TABLE ${table} TO ${r};
    GRANT UPDATE (value, updated_at, updated_by) ON TABLE ${table} TO ${r}`);
}

/** The fence and usage functions: granted once per role, one provisioning at a time. */
async function grantShared(client: Queryable, role: string): Promise<void> {
  const has = await client.query<{ granted: boolean }>(
    `SELECT has_schema_privilege($1, '${TENANT_DATA_SCHEMA}', 'USAGE')
        AND has_function_privilege($1, '${TENANT_DATA_SCHEMA}.fence(bigint)', 'EXECUTE')
        AND has_function_privilege($1, '${TENANT_DATA_SCHEMA}.usage()', 'EXECUTE') AS granted`,
    [role],
  );
  if (has.rows[0]?.granted) return;
  // Two GRANTs on one object at once can fail ("tuple concurrently updated").
  await client.query(`SELECT pg_advisory_xact_lock(${lockKey("'shared grants'")})`);
  const r = ident(role);
  await client.query(`
    GRANT USAGE ON SCHEMA ${TENANT_DATA_SCHEMA} TO ${r};
    GRANT EXECUTE ON FUNCTION ${TENANT_DATA_SCHEMA}.fence(bigint), ${TENANT_DATA_SCHEMA}.usage() TO ${r}`);
}

/**
 * The tenant role's URL: the store's host, port, database and non-credential
 * settings (sslmode, ...). The store's user, password and client certificate
 * stay with the supervisor.
 */
export function tenantUrl(
  storeUrl: string,
  database: string,
  role: string,
  password: string,
): string {
  let source: URL;
  try {
    // Without its user first: WHATWG URLs refuse credentials with no host (a Unix socket in ?host=).
    source = new URL(storeUrl.replace(USER_INFO, '$1'));
  } catch {
    throw new McpTenantsError(ErrorCode.INTERNAL, 'server.store is not a valid postgres:// URL');
  }
  const params = new URLSearchParams();
  for (const [name, value] of source.searchParams) {
    if (KEPT_URL_PARAMS.has(name)) params.append(name, value);
  }
  const query = params.size > 0 ? `?${params.toString()}` : '';
  const user = `${encodeURIComponent(role)}:${encodeURIComponent(password)}`;
  return `postgres://${user}@${source.host}/${encodeURIComponent(database)}${query}`;
}

/** A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5802, RFC 7677). */
export async function scramVerifier(password: string): Promise<string> {
  // The password is base64url, which SASLprep leaves as it is.
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function assertTenantId(tenantId: string): void {
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `${JSON.stringify(tenantId)} is not a valid tenant id (${TENANT_ID_PATTERN.source})`,
    );
  }
}

function provisionFailure(tenantId: string, error: unknown): unknown {
  if (error instanceof McpTenantsError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  // 42501: the store's user lacks CREATEROLE (or the grant options it needs).
  if (code === '42501') {
    return new McpTenantsError(
      ErrorCode.STORE_UNAVAILABLE,
      `cannot set up the PostgreSQL role of tenant "${tenantId}": ${messageOf(error)}; ` +
        "the store's user needs CREATEROLE (ALTER ROLE <user> CREATEROLE) to give each tenant a role of its own",
      { cause: error },
    );
  }
  return error;
}

function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

function literal(text: string): string {
  return pg.escapeLiteral(text);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
