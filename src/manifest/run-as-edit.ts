/**
 * `add-tenant --user/--group`: resolved against the user database before the
 * file is touched, with the manifest's own `defaults:` in mind, so that what
 * it writes loads (an unknown name would make every command refuse the file).
 */

import { type Document, isScalar } from 'yaml';
import { ErrorCode, McpTenantsError } from '../errors.js';
import { type RawRunAs, resolveRunAs } from './resolve-run-as.js';

export function assertRunAsResolves(
  tenant: { id: string; user?: string | number | undefined; group?: string | number | undefined },
  doc: Document,
): void {
  if (tenant.user === undefined && tenant.group === undefined) return;
  const outcome = resolveRunAs({ user: tenant.user, group: tenant.group }, plainDefaults(doc));
  if (!('problem' in outcome)) return;
  const { key, fromDefaults, message } = outcome.problem;
  const where = fromDefaults ? `defaults.${key} of the manifest` : `--${key}`;
  throw new McpTenantsError(
    ErrorCode.USAGE,
    `invalid ${where} for tenant ${tenant.id}: ${message}`,
  );
}

/** `defaults.user` / `defaults.group` when written plainly; a `${VAR}` is checked by `serve`. */
function plainDefaults(doc: Document): RawRunAs {
  const value = (key: 'user' | 'group'): string | number | undefined => {
    const node = doc.getIn(['defaults', key], true);
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'number') return node.value;
    if (typeof node.value !== 'string' || node.value.includes('${')) return undefined;
    return /^\d+$/.test(node.value) ? Number(node.value) : node.value;
  };
  return { user: value('user'), group: value('group') };
}
