import { accessSync, constants } from 'node:fs';
import type { Manifest, TenantConfig } from '../core/config.js';
import { readOverCap } from '../policy/over-cap.js';
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
 */
export function checkOverCap(manifest: Manifest): CheckResult[] {
  let rows: ReturnType<typeof readOverCap>;
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
