import { type AccessList, DEFAULT_POLICY, type TenantPolicy } from '../core/config.js';
import type { RawManifest, RawTenant } from './schema.js';

type RawAccess = { allow?: string[] | undefined; deny?: string[] | undefined } | undefined;

/**
 * A tenant's allow/deny lists, key by key like every other setting: the
 * tenant's own `allow` (or `deny`) replaces the one under `defaults:`.
 */
export function resolvePolicy(tenant: RawTenant, defaults: RawManifest['defaults']): TenantPolicy {
  return {
    tools: merge(DEFAULT_POLICY.tools, defaults?.tools, tenant.tools),
    resources: merge(DEFAULT_POLICY.resources, defaults?.resources, tenant.resources),
    prompts: merge(DEFAULT_POLICY.prompts, defaults?.prompts, tenant.prompts),
  };
}

function merge(base: AccessList, defaults: RawAccess, own: RawAccess): AccessList {
  return {
    allow: [...(own?.allow ?? defaults?.allow ?? base.allow)],
    deny: [...(own?.deny ?? defaults?.deny ?? base.deny)],
  };
}
