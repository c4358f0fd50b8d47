import { accessSync, constants } from 'node:fs';
import type { Manifest, TenantConfig } from '../core/config.js';
import { type OverCapRow, readOverCap, readOverCapAt } from '../policy/over-cap.js';
import { describeUrl } from '../store/postgres.js';
import { openForReading } from '../store/read-database.js';
import type { CheckResult } from './check-result.js';

/** Each `tools_modules` file exists and is readable (doctor never runs a tenant's code). */
export function checkToolModules(tenant: TenantConfig): CheckResult | undefined {
  if (tenant.tools_modules.length === 0) return undefined;
  const check = `tools ${tenant.id}`;
  for (const file of tenant.tools_modules) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      return {
        check,
        status: 'fail',
        detail: `tool module ${file} does not exist or is not readable`,
        fix: `fix the path under tenants.${tenant.id}.tools_modules (relative to the manifest)`,
      };
    }
  }
  return { check, status: 'ok', detail: `${tenant.tools_modules.length} tool module(s) found` };
}

/**
 * Tenants whose server listed more tools or resources than their cap, as the
 * running (or last) supervisor recorded it, judged against today's manifest.
 * Synchronous, so the embedded store only; `checkOverCapInStore` reads a
 * PostgreSQL store too.
 */
export function checkOverCap(manifest: Manifest): CheckResult[] {
  // The record of a PostgreSQL store is in that database, read by checkOverCapInStore.
  if (manifest.server.store.kind !== 'sqlite') return [];
  let rows: OverCapRow[];
  try {
    // No database yet (no supervisor has run): nothing recorded, nothing to report.
    const db = openForReading(manifest.server.data_dir);
    try {
      rows = readOverCap(db);
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
  return judgeOverCap(manifest, rows);
}

/** `checkOverCap` for either store: PostgreSQL's record is read over a connection of its own. */
export async function checkOverCapInStore(manifest: Manifest): Promise<CheckResult[]> {
  const store = manifest.server.store;
  if (store.kind === 'sqlite') return checkOverCap(manifest);
  try {
    return judgeOverCap(manifest, await readOverCapAt(store.url));
  } catch (error) {
    return [
      {
        check: 'max_tools/max_resources',
        status: 'warn',
        detail: `could not read the recorded over-cap listings from the PostgreSQL store at ${describeUrl(store.url)} (${error instanceof Error ? error.message : String(error)})`,
        fix: 'check server.store and that the database accepts connections, then run doctor again',
      },
    ];
  }
}

function judgeOverCap(manifest: Manifest, rows: readonly OverCapRow[]): CheckResult[] {
  const results: CheckResult[] = [];
  for (const row of rows) {
    const tenant = manifest.tenants.get(row.tenant);
    if (!tenant) continue;
    const quota = row.kind === 'tools' ? 'max_tools' : 'max_resources';
    const cap = tenant.quotas[quota];
    if (row.listed <= cap) continue;
    results.push({
      check: `${quota} ${row.tenant}`,
      status: 'warn',
      detail: `its server listed at least ${row.listed} ${row.kind} on ${new Date(row.seen_at).toISOString()}, over ${quota} (${cap}); only the first ${cap} are shown and callable`,
      fix: `raise tenants.${row.tenant}.quotas.${quota}, or have the server expose fewer ${row.kind}`,
    });
  }
  return results;
}

/** How tokens are verified, when an external issuer's keys are configured. */
export function checkTokenKeys(manifest: Manifest): CheckResult | undefined {
  const { public_keys: keys, jwks } = manifest.auth;
  if (!keys && !jwks) return undefined;
  const parts = ['HS256 (secret)'];
  if (keys) parts.push(`RS256/ES256 from ${keys.map((key) => key.source).join(', ')}`);
  if (jwks) parts.push(`RS256/ES256 from ${jwks.url} (timeout ${jwks.timeout_ms} ms)`);
  return { check: 'token keys', status: 'ok', detail: parts.join('; ') };
}
