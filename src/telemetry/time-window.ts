import { ErrorCode, McpTenantsError } from '../core/errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * `--since` / `--until`: a duration back from now (`30m`, `24h`, `7d`, `2w`),
 * `now`, or an ISO 8601 date or time (`2025-06-01`, `2025-06-01T12:00:00Z`;
 * a date alone is midnight UTC). Returns epoch milliseconds.
 */
export function parseWhen(text: string, now: number, option = '--since'): number {
  const value = text.trim();
  if (value === 'now') return now;
  const relative = /^(\d+(?:\.\d+)?)([mhdw])$/.exec(value);
  if (relative) {
    return now - Number(relative[1]) * (UNIT_MS[relative[2] as string] as number);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const parsed = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
    if (Number.isFinite(parsed)) return parsed;
  }
  throw new McpTenantsError(
    ErrorCode.USAGE,
    `${option} "${text}" is neither a duration back from now (30m, 24h, 7d, 2w) nor an ISO date (2025-06-01 or 2025-06-01T12:00:00Z)`,
  );
}

export interface TimeWindow {
  since: number;
  until: number;
}

/** The window of a report or audit query; `since` defaults to 24 hours before `until`. */
export function parseWindow(
  options: { since?: string | undefined; until?: string | undefined },
  now: number,
): TimeWindow {
  const until = options.until === undefined ? now : parseWhen(options.until, now, '--until');
  const since =
    options.since === undefined ? until - 86_400_000 : parseWhen(options.since, now, '--since');
  if (since >= until) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `--since (${new Date(since).toISOString()}) must be before --until (${new Date(until).toISOString()})`,
    );
  }
  return { since, until };
}

export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

export function floorTo(ms: number, unit: number): number {
  return Math.floor(ms / unit) * unit;
}
