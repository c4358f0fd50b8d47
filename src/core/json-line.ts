import { parseBoundedJson } from './bounded-json.js';
import { McpTenantsError } from './errors.js';

const STARTS_AN_OBJECT = /^\s*\{/;

/**
 * A line a child printed, as a JSON object; undefined for anything else.
 * Lines that cannot be an object are not handed to `JSON.parse` at all: a
 * child printing plain text must not cost a thrown exception per line.
 * With `maxDepth`, a line nested deeper is not parsed either: it throws
 * the refusal of `parseBoundedJson`.
 */
export function parseJsonObject(
  line: string,
  maxDepth?: number,
): Record<string, unknown> | undefined {
  if (!STARTS_AN_OBJECT.test(line)) return undefined;
  let parsed: unknown;
  try {
    parsed = maxDepth === undefined ? JSON.parse(line) : parseBoundedJson(line, maxDepth);
  } catch (error) {
    if (error instanceof McpTenantsError) throw error;
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}
