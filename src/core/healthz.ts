import { createHash } from 'node:crypto';
import { PACKAGE_VERSION } from './version.js';

/** What `GET /healthz` names in its `server` header: the product and its version. */
export const HEALTHZ_SERVER = `mcp-tenants/${PACKAGE_VERSION}`;

/** The header of `GET /healthz` that carries {@link dataDirFingerprint}. */
export const DATA_DIR_HEADER = 'mcp-tenants-data-dir';

/**
 * Which data folder a supervisor serves, as a short hash of its absolute
 * path: enough for `mcp-tenants doctor` to tell the supervisor of its own
 * manifest on a port from another one, without saying where the folder is.
 */
export function dataDirFingerprint(dataDir: string): string {
  return createHash('sha256').update(`mcp-tenants data_dir\0${dataDir}`).digest('hex').slice(0, 16);
}

/**
 * The headers of a `GET /healthz` answer. Its body stays liveness only:
 * nothing about tenants, sessions or limits, and no secret here either.
 */
export function healthzHeaders(dataDir: string): Record<string, string> {
  return {
    'cache-control': 'no-store',
    server: HEALTHZ_SERVER,
    [DATA_DIR_HEADER]: dataDirFingerprint(dataDir),
  };
}
