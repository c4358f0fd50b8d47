import { ErrorCode, McpTenantsError } from '../core/errors.js';

/**
 * A quota refusal with the seconds until a retry can succeed. The HTTP
 * front answers such a refusal with 429 and `Retry-After` when it is sent
 * as plain JSON; `error.data.retry_after_seconds` carries the same number
 * on every transport.
 */
export function retryLater(
  message: string,
  data: { quota: string; limit: number; retryAfterMs: number; [key: string]: unknown },
): McpTenantsError {
  const { retryAfterMs, ...rest } = data;
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new McpTenantsError(ErrorCode.QUOTA_EXCEEDED, `${message}; retry in ${seconds} s`, {
    data: { ...rest, retry_after_seconds: seconds },
  });
}

export function concurrencyRefused(
  tenantId: string,
  limit: number,
  queue: number,
  waitedMs?: number,
): McpTenantsError {
  const why =
    waitedMs === undefined
      ? `too many requests in flight: tenant ${tenantId} allows ${limit} at once (max_concurrent_requests)` +
        (queue > 0 ? ` and ${queue} waiting (max_queue)` : '')
      : `no free request slot for tenant ${tenantId} within ${waitedMs} ms (max_concurrent_requests: ${limit})`;
  return retryLater(why, { quota: 'max_concurrent_requests', limit, retryAfterMs: 1000 });
}

export function storageRefused(
  tenantId: string,
  usedBytes: number,
  limitMb: number,
  tool: string,
): McpTenantsError {
  const usedMb = (usedBytes / (1024 * 1024)).toFixed(1);
  return new McpTenantsError(
    ErrorCode.STORAGE_QUOTA_EXCEEDED,
    `storage quota exceeded for tenant ${tenantId}: its data folder holds ${usedMb} MB of ${limitMb} MB (max_storage_mb), ` +
      `so tool ${JSON.stringify(tool)} (not marked read-only) is refused; free space or ask the operator to raise max_storage_mb`,
    { data: { quota: 'max_storage_mb', limit: limitMb, used_bytes: usedBytes } },
  );
}
