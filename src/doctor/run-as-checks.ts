import { dirname } from 'node:path';
import type { Manifest, TenantConfig } from '../core/config.js';
import { findSetpriv, runAsProblem } from '../process/run-as.js';
import { BUILTIN_CHILD_ENTRY } from '../process/spawn-plan.js';
import { unreachable } from '../process/tenant-reach.js';
import type { CheckResult } from './check-result.js';

/**
 * Tenants with `user:`/`group:`: can this supervisor start them as that
 * user, and can that user reach its data and its code? The same rules
 * `serve` applies at each start, checked without creating anything.
 */
export function checkRunAs(
  manifest: Manifest,
  euid: number | undefined = process.geteuid?.(),
): CheckResult[] {
  const setpriv = findSetpriv();
  const results: CheckResult[] = [];
  for (const tenant of manifest.tenants.values()) {
    const result = checkTenant(tenant, manifest.server.data_dir, euid, setpriv);
    if (result) results.push(result);
  }
  return results;
}

function checkTenant(
  tenant: TenantConfig,
  dataDir: string,
  euid: number | undefined,
  setpriv: string | undefined,
): CheckResult | undefined {
  const runAs = tenant.run_as;
  if (runAs === undefined) return undefined;
  const check = `user ${tenant.id}`;
  const problem = runAsProblem(tenant.id, runAs, euid, setpriv);
  if (problem) return { check, status: 'fail', ...problem };
  // `serve` makes data_dir searchable and gives the tenant its folder; the way there is the operator's.
  const folder = { path: dirname(dataDir), need: 'enter' as const, what: 'the folder of data_dir' };
  const blocked = unreachable(tenant, runAs, folder, BUILTIN_CHILD_ENTRY);
  if (blocked) {
    return {
      check,
      status: 'fail',
      detail: blocked,
      fix: `let ${runAs.user} reach those files, or move them (or data_dir) where it can`,
    };
  }
  return {
    check,
    status: 'ok',
    detail: `runs as ${runAs.user}, group ${runAs.group}, no supplementary groups (via ${setpriv})`,
  };
}
