import {
  DEFAULT_AUDIT,
  DEFAULT_POLICY,
  DEFAULT_QUOTAS,
  type TenantConfig,
} from '../../src/core/config.js';

/** A resolved tenant configuration for in-process relay tests. */
export function tenantConfig(overrides: Partial<TenantConfig> & { id: string }): TenantConfig {
  return {
    name: overrides.id,
    args: [],
    env: {},
    quotas: { ...DEFAULT_QUOTAS },
    limits: {},
    request_timeout_ms: 5_000,
    isolation: 'tenant',
    max_sessions: 16,
    max_instances: 1,
    idle_timeout_ms: 0,
    eager: false,
    start_timeout_ms: 10_000,
    audit: { ...DEFAULT_AUDIT },
    policy: structuredClone(DEFAULT_POLICY),
    tools_modules: [],
    ...overrides,
  };
}
