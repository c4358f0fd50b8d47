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

/**
 * Runs a tool body, turning every failure into an `isError` result. Expected
 * ones (bad input, quota) pass their message through; anything else is logged
 * to stderr in full and reported briefly.
 */
export function runTool(tool: string, log: Logger, body: () => CallToolResult): CallToolResult {
  try {
    return body();
  } catch (error) {
    if (isMcpTenantsError(error) && EXPECTED.has(error.code)) return errorResult(error.message);
    const message = error instanceof Error ? error.message : String(error);
    log.error('tool failed', { tool, error: message });
    return errorResult(`${tool} failed: ${message}`);
  }
}
