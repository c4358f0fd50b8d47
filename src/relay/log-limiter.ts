import type { LogFields, Logger } from '../telemetry/logger.js';

export interface LogLimiterOptions {
  /** Lines logged as they come in each interval; the rest are counted. */
  burst: number;
  intervalMs: number;
  now?: () => number;
}

/**
 * Warnings about what a child sends (garbage on stdout, answers to ids it
 * was never sent) and what it prints on stderr are worth logging, but a
 * child printing a million of them
 * must not become a million log lines: each interval logs the first few, and
 * the next line logged says how many were left out.
 */
export class LogLimiter {
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private suppressed = 0;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    private readonly options: LogLimiterOptions = { burst: 10, intervalMs: 10_000 },
  ) {
    this.now = options.now ?? Date.now;
  }

  warn(message: string, fields: LogFields = {}): void {
    this.line('warn', message, fields);
  }

  line(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: LogFields = {}): void {
    const now = this.now();
    if (now - this.windowStart >= this.options.intervalMs) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.options.burst) {
      this.suppressed += 1;
      return;
    }
    this.inWindow += 1;
    const left = this.takeSuppressed();
    this.log[level](message, left > 0 ? { ...fields, not_logged_before: left } : fields);
  }

  /** Says how many were left out since the last line (call when the source ends). */
  flush(message: string): void {
    const left = this.takeSuppressed();
    if (left > 0) this.log.warn(message, { not_logged: left });
  }

  private takeSuppressed(): number {
    const left = this.suppressed;
    this.suppressed = 0;
    return left;
  }
}
