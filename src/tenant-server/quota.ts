import { ErrorCode, McpTenantsError } from '../core/errors.js';

export const BYTES_PER_MB = 1024 * 1024;

export interface StorageUse {
  tenantId: string;
  maxStorageMb: number;
  usedBytes: number;
  /** How many bytes the refused write would have added. */
  neededBytes: number;
}

/** Refuses a write that would take the tenant over `max_storage_mb`. */
export function assertWithinQuota(use: StorageUse): void {
  const limitBytes = use.maxStorageMb * BYTES_PER_MB;
  if (use.usedBytes + use.neededBytes <= limitBytes) return;
  throw new McpTenantsError(
    ErrorCode.STORAGE_QUOTA_EXCEEDED,
    `storage quota exceeded for tenant ${use.tenantId}: ${mb(use.usedBytes)} MB used of ` +
      `${use.maxStorageMb} MB, and this write needs ${mb(use.neededBytes)} MB more. ` +
      'Delete keys you no longer need (data_delete), or ask the operator to raise max_storage_mb.',
    { data: { usedBytes: use.usedBytes, neededBytes: use.neededBytes, limitBytes } },
  );
}

function mb(bytes: number): string {
  return (bytes / BYTES_PER_MB).toFixed(2);
}
