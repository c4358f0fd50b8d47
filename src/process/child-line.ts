import { refusedEnvelope } from '../core/bounded-json.js';
import { JsonRpcCode, McpTenantsError } from '../core/errors.js';
import { parseJsonObject } from '../core/json-line.js';
import { errorResponse } from '../core/jsonrpc.js';
import type { LogLimiter } from '../core/log-limiter.js';
import { noteWireBytes } from '../core/wire-bytes.js';

/**
 * One line a child printed on stdout, as the JSON object it carries, or
 * undefined when it carries none (plain text, invalid JSON: logged through
 * `dropped` and left). A line nested deeper than `maxDepth` is never parsed and nothing
 * of it is kept; when it was an answer, an error answer under the same id
 * takes its place, so the request it answered does not wait for a timeout.
 */
export function readChildLine(
  line: string,
  bytes: number,
  maxDepth: number,
  dropped: LogLimiter,
): Record<string, unknown> | undefined {
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = parseJsonObject(line, maxDepth);
  } catch (error) {
    if (!(error instanceof McpTenantsError)) throw error;
    const { id, hasMethod } = refusedEnvelope(line);
    dropped.warn("the tenant's server sent a message beyond the JSON bounds; dropped", {
      reason: error.message,
      bytes,
      id: id ?? undefined,
    });
    if (hasMethod || id === null) return undefined;
    return errorResponse(
      id,
      JsonRpcCode.INTERNAL_ERROR,
      `the tenant's server sent an answer that was refused and dropped: ${error.message}`,
      { code: error.code },
    ) as unknown as Record<string, unknown>;
  }
  if (parsed === undefined) {
    dropped.warn('child printed a non-JSON line on stdout; dropped', { line: line.slice(0, 200) });
    return undefined;
  }
  noteWireBytes(parsed, bytes);
  return parsed;
}
