/**
 * What the built-in tenant server reports about itself over its IPC channel
 * (the supervisor opens one to children that accept it). Tool figures are
 * counted since the previous message; database figures are current.
 */
export const CHILD_FIGURES_TYPE = 'mcp-tenants/figures';

export interface ChildFigures {
  type: typeof CHILD_FIGURES_TYPE;
  tool_calls: number;
  tool_errors: number;
  /** Time spent inside tool handlers, ms. */
  tool_ms: number;
  db_bytes: number;
  rows: number;
}

const LIMIT = 1e12;

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < LIMIT
    ? value
    : undefined;
}

/** The figures in a child's message, or undefined for anything else (never trusted blindly). */
export function parseChildFigures(message: unknown): ChildFigures | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const value = message as Record<string, unknown>;
  if (value.type !== CHILD_FIGURES_TYPE) return undefined;
  const fields = {
    tool_calls: count(value.tool_calls),
    tool_errors: count(value.tool_errors),
    tool_ms: count(value.tool_ms),
    db_bytes: count(value.db_bytes),
    rows: count(value.rows),
  };
  if (Object.values(fields).some((field) => field === undefined)) return undefined;
  return { type: CHILD_FIGURES_TYPE, ...(fields as Omit<ChildFigures, 'type'>) };
}
