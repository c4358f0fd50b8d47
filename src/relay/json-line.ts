const STARTS_AN_OBJECT = /^\s*\{/;

/**
 * A line a child printed, as a JSON object; undefined for anything else.
 * Lines that cannot be an object are not handed to `JSON.parse` at all: a
 * child printing plain text must not cost a thrown exception per line.
 */
export function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!STARTS_AN_OBJECT.test(line)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}
