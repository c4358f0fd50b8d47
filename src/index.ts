/** The public API of mcp-tenants, for embedding the supervisor in a program. */

export { Supervisor, type SupervisorOptions } from './app/supervisor.js';
export type { TenantContext } from './auth/context.js';
export { signToken } from './auth/sign.js';
export { TokenVerifier } from './auth/verify.js';
export { RELATED_REQUEST_META_KEY } from './core/child-meta.js';
export type { Limits, Manifest, Quotas, TenantConfig } from './core/config.js';
export { ErrorCode, McpTenantsError } from './core/errors.js';
export { createLogger, type Logger, silentLogger } from './core/logger.js';
export { addTenant, removeTenant } from './manifest/edit.js';
export { loadManifest } from './manifest/load.js';
export { writeInitialManifest } from './manifest/template.js';
