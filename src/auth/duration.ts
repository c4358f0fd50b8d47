import { ErrorCode, McpTenantsError } from '../core/errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Longer-lived tokens are a liability: a year (and a leap day) at most. */
export const MAX_DURATION_SECONDS = 366 * UNIT_SECONDS.d;

const DURATION = /^(\d{1,9})([smhd]?)$/;

/** Parses `--ttl`: `90s`, `15m`, `1h`, `7d`, or plain seconds (`3600`). */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  const amount = match ? Number(match[1]) : 0;
  if (!match || amount === 0) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `invalid duration ${JSON.stringify(text)}: use e.g. 30m, 1h, 7d`,
    );
  }
  const unit = (match[2] || 's') as keyof typeof UNIT_SECONDS;
  const seconds = amount * UNIT_SECONDS[unit];
  if (seconds > MAX_DURATION_SECONDS) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `invalid duration ${JSON.stringify(text)}: at most 366d`,
    );
  }
  return seconds;
}
