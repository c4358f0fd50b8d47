import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Limits, Manifest, TenantConfig } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import { findExecutable } from '../process/find-executable.js';
import { detectHostLimits, type HostLimitsReport } from '../process/limits/index.js';
import { PostgresStore } from '../store/postgres.js';
import type { CheckResult } from './check-result.js';
import { checkOverCapInStore, checkTokenKeys, checkToolModules } from './policy-checks.js';
import { checkPort } from './port-check.js';
import { checkRunAs } from './run-as-checks.js';

const ok = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail });

/**
 * Everything `serve` needs, checked without starting it: the manifest, the
 * secret, each tenant's command, the data folder, the limit layers, the
 * port. A broken manifest stops the checks that need it.
 */
export async function runChecks(manifestPath: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [checkNode()];
  let manifest: Manifest;
  try {
    manifest = loadManifest(manifestPath);
  } catch (error) {
    results.push({
      check: 'manifest',
      status: 'fail',
      detail: error instanceof Error ? error.message : String(error),
      fix: 'fix the lines named above; `mcp-tenants init -m <file>` writes a working manifest',
    });
    return results;
  }
  results.push(ok('manifest', `${manifest.path}: ${manifest.tenants.size} tenant(s)`));
  results.push(checkSecret(manifest.auth.secret));
  results.push(checkDataDir(manifest.server.data_dir));
  results.push(await checkStore(manifest));
  const keys = checkTokenKeys(manifest);
  if (keys) results.push(keys);
  for (const tenant of manifest.tenants.values()) {
    results.push(checkCommand(tenant));
    const modules = checkToolModules(tenant);
    if (modules) results.push(modules);
  }
  results.push(...checkRunAs(manifest));
  results.push(...(await checkOverCapInStore(manifest)));
  const hostLimits = detectHostLimits();
  results.push(checkHostLimits(hostLimits));
  for (const tenant of manifest.tenants.values()) {
    const limits = describeTenantLimits(tenant.limits, hostLimits);
    if (limits) results.push(ok(`limits ${tenant.id}`, limits));
  }
  results.push(await checkPort(manifest.server.host, manifest.server.port, manifest.auth.secret));
  return results;
}

/** The PostgreSQL store answers, and how far its schema is migrated (the embedded one is the data folder). */
async function checkStore(manifest: Manifest): Promise<CheckResult> {
  const store = manifest.server.store;
  if (store.kind === 'sqlite') return ok('store', 'embedded SQLite in the data folder');
  let pg: PostgresStore | undefined;
  try {
    pg = await PostgresStore.open(store.url, {
      log: createLogger({ level: 'silent' }),
      applicationName: 'mcp-tenants doctor',
      maxConnections: 1,
      connectDeadlineMs: 3_000,
    });
    const version = await pg.query<{ version: string }>('SHOW server_version');
    const applied = await pg.query<{ count: string }>(
      "SELECT count(*)::text AS count FROM pg_tables WHERE tablename = 'mcp_schema_migrations'",
    );
    const migrated =
      applied.rows[0]?.count === '1'
        ? (
            await pg.query<{ count: string }>(
              'SELECT count(*)::text AS count FROM mcp_schema_migrations',
            )
          ).rows[0]?.count
        : '0';
    return ok(
      'store',
      `PostgreSQL ${version.rows[0]?.version ?? '?'} at ${pg.where}; ${migrated} migration(s) applied (serve applies the rest at start)`,
    );
  } catch (error) {
    return {
      check: 'store',
      status: 'fail',
      detail: error instanceof Error ? error.message : String(error),
      fix: 'check server.store (host, port, database, user, password) and that PostgreSQL accepts connections from this host',
    };
  } finally {
    await pg?.close();
  }
}

function checkNode(): CheckResult {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 20) return ok('node', `Node.js ${process.versions.node}`);
  return {
    check: 'node',
    status: 'fail',
    detail: `Node.js ${process.versions.node} is too old`,
    fix: 'install Node.js 20 or newer',
  };
}

/** The schema already requires 32 bytes; this catches secrets that are long but guessable. */
function checkSecret(secret: string): CheckResult {
  const distinct = new Set(secret).size;
  if (distinct < 12) {
    return {
      check: 'secret',
      status: 'warn',
      detail: `the token secret uses only ${distinct} distinct characters`,
      fix: 'use a random secret, e.g. `openssl rand -base64 48`, or delete secret_file to have one generated',
    };
  }
  return ok('secret', `${Buffer.byteLength(secret)} bytes, ${distinct} distinct characters`);
}

function checkDataDir(dataDir: string): CheckResult {
  const probe = join(dataDir, `.doctor-${process.pid}`);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(probe, 'probe', { mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (error) {
    return {
      check: 'data folder',
      status: 'fail',
      detail: `${dataDir} is not writable: ${(error as Error).message}`,
      fix: 'set server.data_dir to a folder the supervisor may write, or fix its owner and mode',
    };
  }
  const mode = statSync(dataDir).mode & 0o777;
  // Search alone (o+x) is what tenants with their own user need to reach their folders.
  if ((mode & 0o066) !== 0) {
    return {
      check: 'data folder',
      status: 'warn',
      detail: `${dataDir} is writable but readable by others (mode ${mode.toString(8)})`,
      fix: `chmod 700 ${dataDir}`,
    };
  }
  return ok('data folder', `${dataDir} is writable`);
}

function checkCommand(tenant: TenantConfig): CheckResult {
  const check = `command ${tenant.id}`;
  if (tenant.command === undefined) return ok(check, 'built-in tenant server');
  const found = resolveCommand(tenant.command, tenant.env.PATH ?? process.env.PATH ?? '');
  if (found) return ok(check, `${tenant.command} → ${found}`);
  return {
    check,
    status: 'fail',
    detail: `"${tenant.command}" is not an executable file on PATH`,
    fix: "install it, or give its absolute path in the tenant's `command`",
  };
}

function resolveCommand(command: string, path: string): string | undefined {
  return findExecutable(command, path.split(delimiter));
}

function checkHostLimits(report: HostLimitsReport): CheckResult {
  const missing = report.unavailable.map(({ layer, reason }) => `${layer}: ${reason}`).join('; ');
  const detail = `active: ${report.active.join(' + ') || 'none'}${missing ? ` (unavailable: ${missing})` : ''}`;
  if (report.active.includes('cgroup-v2') || report.active.includes('cgroup-v1')) {
    return ok('host-limits', detail);
  }
  return {
    check: 'host-limits',
    status: report.active.length > 0 ? 'warn' : 'fail',
    detail,
    fix: 'for kernel-enforced limits run the supervisor with a delegated cgroup v2 subtree (e.g. `systemd-run --user --scope -p Delegate=yes mcp-tenants serve ...`) or as root',
  };
}

/** Which mechanism holds each of a tenant's limits on this host. */
function describeTenantLimits(limits: Limits, report: HostLimitsReport): string | undefined {
  const cgroup = report.active.find((layer) => layer.startsWith('cgroup'));
  const controllers =
    report.cgroup?.version === 2
      ? report.cgroup.controllers
      : Object.keys(report.cgroup?.trees ?? {});
  const by = (controller: string, fallback: string) =>
    cgroup && controllers.includes(controller) ? cgroup : fallback;
  const parts: string[] = [];
  if (limits.memory_mb !== undefined) {
    parts.push(`memory_mb ${limits.memory_mb} by ${by('memory', 'rlimits + watchdog')}`);
  }
  if (limits.cpu !== undefined)
    parts.push(`cpu ${limits.cpu} by ${by('cpu', 'watchdog throttle')}`);
  if (limits.pids !== undefined) parts.push(`pids ${limits.pids} by ${by('pids', 'watchdog')}`);
  if (limits.open_files !== undefined) parts.push(`open_files ${limits.open_files} by rlimits`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}
