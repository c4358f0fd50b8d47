import { isAbsolute } from 'node:path';
import type { RunAs, TenantConfig } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { blockedAt, type Need } from './reachable.js';

export interface Needed {
  path: string;
  need: Need;
  what: string;
}

/** What a tenant's child must be able to open as its own user, and why: `folder` first. */
function neededFiles(tenant: TenantConfig, folder: Needed, builtinEntry: string): Needed[] {
  const files: Needed[] = [folder];
  if (tenant.command === undefined) {
    files.push(
      { path: process.execPath, need: 'run', what: 'Node.js' },
      { path: builtinEntry, need: 'read', what: 'the built-in tenant server' },
      ...tenant.tools_modules.map((path) => ({
        path,
        need: 'read' as const,
        what: 'its tool module',
      })),
    );
  } else if (isAbsolute(tenant.command)) {
    files.push({ path: tenant.command, need: 'run', what: 'its command' });
  }
  return files;
}

/** The first file the tenant's user cannot reach, as one sentence with the fix; undefined if none. */
export function unreachable(
  tenant: TenantConfig,
  runAs: RunAs,
  folder: Needed,
  builtinEntry: string,
): string | undefined {
  for (const { path, need, what } of neededFiles(tenant, folder, builtinEntry)) {
    const blocked = blockedAt(path, runAs, need);
    if (blocked === undefined) continue;
    return `tenant "${tenant.id}" runs as ${runAs.user}, which cannot ${need} ${what} (${path}): stopped at ${blocked}; give that user access (e.g. \`chmod o+x\` on the folder, \`chmod o+r\` on the file) or move the file where it can`;
  }
  return undefined;
}

/** Throws CHILD_UNAVAILABLE when the tenant's user could not start or run its child. */
export function assertReachable(tenant: TenantConfig, cwd: string, builtinEntry: string): void {
  if (tenant.run_as === undefined) return;
  const folder: Needed = { path: cwd, need: 'enter', what: 'its data folder' };
  const problem = unreachable(tenant, tenant.run_as, folder, builtinEntry);
  if (problem !== undefined) throw new McpTenantsError(ErrorCode.CHILD_UNAVAILABLE, problem);
}
