import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, isMcpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

/** A failure the model can read and act on, rather than a protocol error. */
export function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

const EXPECTED: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.USAGE,
  ErrorCode.STORAGE_QUOTA_EXCEEDED,
  ErrorCode.NOT_FOUND,
]);

/** The store could not serve the call (unreachable, or the tenant moved): said as it is, and logged. */
const UNAVAILABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.STORE_UNAVAILABLE,
  ErrorCode.NODE_UNAVAILABLE,
]);

/**
 * Runs a tool body, turning every failure into an `isError` result. Expected
 * ones (bad input, quota) pass their message through; the store's
 * unavailability too, with a warning in the log; anything else is logged to
 * stderr in full and reported briefly.
 */
export async function runTool(
  tool: string,
  log: Logger,
  body: () => CallToolResult | Promise<CallToolResult>,
): Promise<CallToolResult> {
  try {
    return await body();
  } catch (error) {
    if (isMcpTenantsError(error) && EXPECTED.has(error.code)) return errorResult(error.message);
    if (isMcpTenantsError(error) && UNAVAILABLE.has(error.code)) {
      log.warn('tool refused: the data store cannot serve it', { tool, error: error.message });
      return errorResult(error.message);
    }
    const message = error instanceof Error ? error.message : String(error);
    log.error('tool failed', { tool, error: message });
    return errorResult(`${tool} failed: ${message}`);
  }
}
