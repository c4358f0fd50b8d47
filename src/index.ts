/** The public API of mcp-tenants, for embedding the supervisor in a program. */

export type { TenantContext } from './auth/context.js';
export { signToken } from './auth/sign.js';
export { TokenVerifier } from './auth/verify.js';
export { ErrorCode, McpTenantsError } from './errors.js';
export { addTenant, removeTenant } from './manifest/edit.js';
export { loadManifest } from './manifest/load.js';
export { writeInitialManifest } from './manifest/template.js';
export type { Limits, Manifest, Quotas, TenantConfig } from './manifest/types.js';
export { RELATED_REQUEST_META_KEY } from './relay/server-requests.js';
export { Supervisor, type SupervisorOptions } from './supervisor/supervisor.js';
export { createLogger, type Logger, silentLogger } from './telemetry/logger.js';
