/**
 * `add-tenant --user/--group`: resolved against the user database before the
 * file is touched, with the manifest's own `defaults:` in mind, so that what
 * it writes loads (an unknown name would make every command refuse the file).
 */

import { type Document, isScalar } from 'yaml';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { expandEnv } from './env-expand.js';
import { type RawRunAs, resolveRunAs } from './resolve-run-as.js';

export function assertRunAsResolves(
  tenant: { id: string; user?: string | number | undefined; group?: string | number | undefined },
  doc: Document,
  env: NodeJS.ProcessEnv,
): void {
  if (tenant.user === undefined && tenant.group === undefined) return;
  const defaults = defaultsOf(doc, env);
  // A default naming a variable this shell does not set: `serve` checks it where it is set.
  if (defaults === undefined) return;
  const outcome = resolveRunAs({ user: tenant.user, group: tenant.group }, defaults);
  if (!('problem' in outcome)) return;
  const { key, fromDefaults, message } = outcome.problem;
  const where = fromDefaults ? `defaults.${key} of the manifest` : `--${key}`;
  throw new McpTenantsError(
    ErrorCode.USAGE,
    `invalid ${where} for tenant ${tenant.id}: ${message}`,
  );
}

/**
 * `defaults.user` / `defaults.group` as `serve` would read them (`${VAR}`
 * expanded, digits an id); undefined when a variable is not set here.
 */
function defaultsOf(doc: Document, env: NodeJS.ProcessEnv): RawRunAs | undefined {
  const read = (key: 'user' | 'group'): string | number | undefined | null => {
    const node = doc.getIn(['defaults', key], true);
    if (!isScalar(node)) return undefined;
    if (typeof node.value === 'number') return node.value;
    if (typeof node.value !== 'string') return undefined;
    const expanded = expandEnv(node.value, env);
    if (!expanded.ok) return null;
    return /^\d+$/.test(expanded.value) ? Number(expanded.value) : expanded.value;
  };
  const user = read('user');
  const group = read('group');
  if (user === null || group === null) return undefined;
  return { user, group };
}
