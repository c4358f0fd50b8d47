import type { Migration } from './migrations.js';

/** The schema of what the built-in tenant server's data shares: the role map and its functions. */
export const TENANT_DATA_SCHEMA = 'mcp_tenant_data';

/**
 * The SQLSTATE `mcp_tenant_data.fence` raises when the caller's lease epoch
 * is not the tenant's current one: its node lost the tenant to another.
 */
export const FENCED_SQLSTATE = 'MTF01';

/**
 * What the built-in tenant server's data needs in PostgreSQL besides each
 * tenant's own schema (made by `TenantDataRoles`, src/store/tenant-data.ts):
 *
 * - `mcp_tenant_data.tenants`: which login role and schema belong to which
 *   tenant, and how many bytes and rows it stores (kept by a trigger on each
 *   tenant's table, so no client can misreport them).
 * - `mcp_tenant_data.fence(epoch)`: the first statement of every write a
 *   tenant's child makes. It locks the tenant's `mcp_leases` row FOR SHARE,
 *   so a takeover (an UPDATE of that row) waits for the write to commit or
 *   comes first and the write is refused; then it locks the tenant's usage
 *   row, so writers of one tenant take turns measuring the quota.
 * - `mcp_tenant_data.usage()`: the caller's own bytes and rows.
 *
 * The functions run as the supervisor (SECURITY DEFINER, with a fixed
 * search_path so a tenant cannot slip its own objects in) and answer for the
 * session's login role only. EXECUTE goes to the tenant roles one by one,
 * never to PUBLIC.
 *
 * PostgreSQL grants EXECUTE on every new function to PUBLIC, so any function
 * the supervisor makes would be callable by a tenant's role, a SECURITY
 * DEFINER one with the supervisor's rights. The first migration takes that
 * away for the supervisor's functions, those made so far (outside
 * extensions) and, through default privileges, those to come. The supervisor
 * owns them, so it keeps calling them; tables need nothing of the kind, as
 * PostgreSQL grants nothing on them to PUBLIC.
 */
export const TENANT_DATA_MIGRATIONS: readonly Migration[] = [
  {
    component: 'tenant_data',
    version: 1,
    name: 'tenant roles, usage and the lease fence',
    sql: `
CREATE SCHEMA ${TENANT_DATA_SCHEMA};
REVOKE ALL ON SCHEMA ${TENANT_DATA_SCHEMA} FROM PUBLIC;

CREATE TABLE ${TENANT_DATA_SCHEMA}.tenants (
  tenant      TEXT PRIMARY KEY,
  role_name   TEXT NOT NULL UNIQUE,
  schema_name TEXT NOT NULL UNIQUE,
  used_bytes  BIGINT NOT NULL DEFAULT 0,
  used_rows   BIGINT NOT NULL DEFAULT 0,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE ALL ON ${TENANT_DATA_SCHEMA}.tenants FROM PUBLIC;

-- Fired by each tenant's entries table with its tenant id as argument.
CREATE FUNCTION ${TENANT_DATA_SCHEMA}.count_usage() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  delta_bytes BIGINT := 0;
  delta_rows  BIGINT := 0;
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    delta_bytes := octet_length(NEW.data_key) + octet_length(NEW.value);
    delta_rows := 1;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    delta_bytes := delta_bytes - octet_length(OLD.data_key) - octet_length(OLD.value);
    delta_rows := delta_rows - 1;
  END IF;
  UPDATE ${TENANT_DATA_SCHEMA}.tenants
     SET used_bytes = used_bytes + delta_bytes, used_rows = used_rows + delta_rows
   WHERE tenant = TG_ARGV[0];
  RETURN NULL;
END
$fn$;

CREATE FUNCTION ${TENANT_DATA_SCHEMA}.usage(OUT bytes BIGINT, OUT rows BIGINT)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT used_bytes, used_rows FROM ${TENANT_DATA_SCHEMA}.tenants WHERE role_name = session_user::text
$fn$;

-- mcp_leases is where the cluster migrations made it (the first schema of
-- the supervisor's search_path); the function names it exactly.
DO $do$
DECLARE
  leases TEXT;
BEGIN
  SELECT format('%I.%I', n.nspname, c.relname) INTO leases
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = to_regclass('mcp_leases');
  IF leases IS NULL THEN
    RAISE EXCEPTION 'mcp_leases does not exist: the cluster migrations must run before tenant_data';
  END IF;
  EXECUTE format($f$
CREATE FUNCTION ${TENANT_DATA_SCHEMA}.fence(lease_epoch BIGINT) RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  me   TEXT;
  held BIGINT;
  used BIGINT;
BEGIN
  SELECT tenant INTO me FROM ${TENANT_DATA_SCHEMA}.tenants WHERE role_name = session_user::text;
  IF me IS NULL THEN
    RAISE EXCEPTION 'role %% is not the role of a tenant of this store', session_user
      USING ERRCODE = '42501';
  END IF;
  -- No epoch: a store without leases (one node); the usage lock still applies.
  IF lease_epoch IS NOT NULL THEN
    SELECT epoch INTO held FROM %s WHERE tenant = me FOR SHARE;
    IF held IS DISTINCT FROM lease_epoch THEN
      RAISE EXCEPTION 'tenant %% is served by another node now (lease epoch %%, this instance holds %%)',
        me, coalesce(held::text, 'none'), lease_epoch
        USING ERRCODE = '${FENCED_SQLSTATE}';
    END IF;
  END IF;
  SELECT used_bytes INTO used FROM ${TENANT_DATA_SCHEMA}.tenants WHERE tenant = me FOR UPDATE;
  RETURN used;
END
$fn$;$f$, leases);
END
$do$;

REVOKE ALL ON FUNCTION ${TENANT_DATA_SCHEMA}.count_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION ${TENANT_DATA_SCHEMA}.usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION ${TENANT_DATA_SCHEMA}.fence(BIGINT) FROM PUBLIC;

ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
DO $do$
DECLARE
  routine REGPROCEDURE;
BEGIN
  FOR routine IN
    SELECT p.oid::regprocedure
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON ROUTINE %s FROM PUBLIC', routine);
  END LOOP;
END
$do$;

-- PostgreSQL 15 made this the default; older servers let PUBLIC create
-- tables in public, out of any quota. Only the schema's owner (or a
-- superuser) can revoke it, and then the supervisor needs no PUBLIC grant.
DO $do$
BEGIN
  IF to_regnamespace('public') IS NOT NULL THEN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN
  NULL; -- a supervisor with no right at all on public: nothing of it to protect
END
$do$;
`,
  },
];
