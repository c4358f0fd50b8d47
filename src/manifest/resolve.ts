/**
 * Raw (as written) → resolved manifest: defaults applied key by key
 * (built-in < `defaults:` < tenant), paths made absolute against the
 * manifest's directory, the secret read from `secret_file` if used.
 */

import { resolve as resolvePath } from 'node:path';
import {
  type AuthConfig,
  type ClusterConfig,
  DEFAULT_AUDIT,
  DEFAULT_CLAIMS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_QUOTAS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SERVER,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_TELEMETRY,
  type Manifest,
  type ServerConfig,
  type TenantConfig,
} from '../core/config.js';
import { manifestInvalid, type Problem } from './problems.js';
import { resolvePolicy } from './resolve-policy.js';
import { resolveRunAs, systemUserDatabase } from './resolve-run-as.js';
import type { RawManifest, RawTenant } from './schema.js';
import { readOrCreateSecretFile } from './secret-file.js';
import { resolveTokenKeys } from './token-keys.js';
import type { SourceIndex } from './yaml-tree.js';

export interface ResolveContext {
  /** Absolute path of the manifest file. */
  path: string;
  manifestDir: string;
  fileLabel: string;
  index: SourceIndex;
}

export function resolveManifest(raw: RawManifest, context: ResolveContext): Manifest {
  const tenants = new Map<string, TenantConfig>();
  const problems = new Map<string, Problem>();
  const users = systemUserDatabase();
  for (const [id, tenant] of Object.entries(raw.tenants)) {
    const config = resolveTenant(id, tenant, raw.defaults, context.index, context.manifestDir);
    const runAs = resolveRunAs(tenant, raw.defaults, users);
    if ('problem' in runAs) {
      const { key, fromDefaults, message } = runAs.problem;
      const path = fromDefaults ? ['defaults', key] : ['tenants', id, key];
      // A wrong `defaults.user` is one problem, not one per tenant.
      problems.set(path.join('.'), { line: context.index.lineOf(path), path, message });
    } else if (runAs.runAs) {
      config.run_as = runAs.runAs;
    }
    tenants.set(id, config);
  }
  if (problems.size > 0) throw manifestInvalid(context.fileLabel, [...problems.values()]);
  return {
    path: context.path,
    server: resolveServer(raw.server, context.manifestDir),
    auth: resolveAuth(raw.auth, raw.server, context),
    telemetry: { ...DEFAULT_TELEMETRY, ...raw.telemetry },
    cluster: resolveCluster(raw.cluster, context),
    tenants,
  };
}

function resolveServer(server: RawManifest['server'], manifestDir: string): ServerConfig {
  const { store, ...merged } = { ...DEFAULT_SERVER, ...server };
  return {
    ...merged,
    allowed_origins: [...merged.allowed_origins],
    allowed_hosts: [...merged.allowed_hosts],
    data_dir: resolvePath(manifestDir, merged.data_dir),
    public_url: publicOrigin(server),
    store:
      store === undefined || store === 'sqlite'
        ? { kind: 'sqlite' }
        : { kind: 'postgres', url: store },
  };
}

/** `server.public_url` as an origin, without the trailing slash. */
function publicOrigin(server: RawManifest['server']): string | undefined {
  return server?.public_url === undefined ? undefined : new URL(server.public_url).origin;
}

function resolveCluster(cluster: RawManifest['cluster'], context: ResolveContext): ClusterConfig {
  const base = {
    lease_ms: cluster?.lease_ms ?? DEFAULT_LEASE_MS,
    advertise_url: cluster?.advertise_url,
  };
  if (cluster?.key_file === undefined) return { ...base, key: cluster?.key };
  const result = readOrCreateSecretFile(resolvePath(context.manifestDir, cluster.key_file));
  if (!result.ok) {
    const path = ['cluster', 'key_file'];
    throw manifestInvalid(context.fileLabel, [
      { line: context.index.lineOf(path), path, message: result.message },
    ]);
  }
  return { ...base, key: result.secret };
}

function resolveAuth(
  auth: RawManifest['auth'],
  server: RawManifest['server'],
  context: ResolveContext,
): AuthConfig {
  const publicUrl = publicOrigin(server);
  const base = {
    issuer: auth.issuer,
    audience: auth.audience === undefined ? undefined : [auth.audience].flat(),
    resource: publicUrl === undefined ? undefined : `${publicUrl}/mcp`,
    authorization_servers: auth.authorization_servers,
    scopes_supported: auth.scopes_supported,
    claims: { ...DEFAULT_CLAIMS, ...auth.claims },
    ...resolveTokenKeys(auth, context),
  };
  if (auth.secret !== undefined) return { ...base, secret: auth.secret };
  // The schema guarantees exactly one of secret / secret_file.
  const file = resolvePath(context.manifestDir, auth.secret_file ?? '');
  const result = readOrCreateSecretFile(file);
  if (!result.ok) {
    const path = ['auth', 'secret_file'];
    throw manifestInvalid(context.fileLabel, [
      { line: context.index.lineOf(path), path, message: result.message },
    ]);
  }
  return { ...base, secret: result.secret };
}

function resolveTenant(
  id: string,
  tenant: RawTenant,
  defaults: RawManifest['defaults'],
  index: SourceIndex,
  manifestDir: string,
): TenantConfig {
  // Numbers and booleans keep their spelling from the file (`1.10` stays "1.10").
  const asText = (value: string | number | boolean, path: (string | number)[]): string =>
    typeof value === 'string' ? value : (index.sourceOf(['tenants', id, ...path]) ?? String(value));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(tenant.env ?? {}))
    env[key] = asText(value, ['env', key]);
  // `min_instances: 1` is the same as `eager: true`: one child, started now, kept warm.
  const warm = tenant.eager === true || tenant.min_instances === 1;
  return {
    id,
    name: tenant.name === undefined ? id : asText(tenant.name, ['name']),
    command: tenant.command,
    args: (tenant.args ?? []).map((arg, i) => asText(arg, ['args', i])),
    env,
    quotas: { ...DEFAULT_QUOTAS, ...defaults?.quotas, ...tenant.quotas },
    limits: { ...defaults?.limits, ...tenant.limits },
    request_timeout_ms:
      tenant.request_timeout_ms ?? defaults?.request_timeout_ms ?? DEFAULT_REQUEST_TIMEOUT_MS,
    isolation: tenant.isolation ?? 'tenant',
    max_sessions: tenant.max_sessions ?? DEFAULT_MAX_SESSIONS,
    max_instances: tenant.max_instances ?? 1,
    idle_timeout_ms: warm
      ? 0
      : (tenant.idle_timeout_ms ?? defaults?.idle_timeout_ms ?? DEFAULT_IDLE_TIMEOUT_MS),
    eager: warm,
    start_timeout_ms: tenant.start_timeout_ms ?? DEFAULT_START_TIMEOUT_MS,
    audit: { ...DEFAULT_AUDIT, ...defaults?.audit, ...tenant.audit },
    policy: resolvePolicy(tenant, defaults),
    tools_modules: (tenant.tools_modules ?? []).map((file) => resolvePath(manifestDir, file)),
  };
}
