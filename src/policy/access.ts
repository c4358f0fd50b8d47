import type { AccessList, TenantPolicy } from '../core/config.js';
import { ADMIN_PERMISSION } from '../core/permissions.js';
import type { Caller } from '../core/pipeline.js';
import { globMatches, globsOverlap, templateAsGlob } from './glob.js';

export type PermissionKind = keyof TenantPolicy;

/** Why a name is out of reach: the token does not grant it, or the tenant's manifest policy forbids it. */
export type Refusal = 'token' | 'tenant_deny' | 'tenant_allow';

/**
 * Effective permission = token ∩ tenant policy. The token must grant the
 * name (`admin` grants every name), the tenant's `allow` must match it and
 * no `deny` may match it: deny wins, for admins too.
 */
export function refusalFor(
  caller: Caller,
  policy: TenantPolicy,
  kind: PermissionKind,
  name: string,
): Refusal | undefined {
  if (!tokenGrants(caller, kind, (glob) => globMatches(glob, name))) return 'token';
  return tenantRefusal(policy[kind], (glob) => globMatches(glob, name));
}

/**
 * The same decision for a resource template: it is listed when the caller
 * may read at least one URI it describes, and hidden when a deny pattern
 * covers the template as a whole. Reads are still checked URI by URI.
 */
export function templateRefusal(
  caller: Caller,
  policy: TenantPolicy,
  uriTemplate: string,
): Refusal | undefined {
  const pattern = templateAsGlob(uriTemplate);
  if (!tokenGrants(caller, 'resources', (glob) => globsOverlap(glob, pattern))) return 'token';
  const list = policy.resources;
  if (list.deny.some((glob) => globMatches(glob, uriTemplate))) return 'tenant_deny';
  if (!list.allow.some((glob) => globsOverlap(glob, pattern))) return 'tenant_allow';
  return undefined;
}

function tokenGrants(caller: Caller, kind: PermissionKind, fits: (glob: string) => boolean) {
  const prefix = `${kind}:`;
  return caller.permissions.some(
    (permission) =>
      permission === ADMIN_PERMISSION ||
      (permission.startsWith(prefix) && fits(permission.slice(prefix.length))),
  );
}

function tenantRefusal(list: AccessList, fits: (glob: string) => boolean): Refusal | undefined {
  if (list.deny.some(fits)) return 'tenant_deny';
  if (!list.allow.some(fits)) return 'tenant_allow';
  return undefined;
}
