import { BurstLimiter } from './burst-limiter.js';
import type { LogFields, Logger } from './logger.js';

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
  private readonly limiter: BurstLimiter;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    options: LogLimiterOptions = { burst: 10, intervalMs: 10_000 },
  ) {
    this.limiter = new BurstLimiter(options.burst, options.intervalMs);
    this.now = options.now ?? Date.now;
  }

  warn(message: string, fields: LogFields = {}): void {
    this.line('warn', message, fields);
  }

  line(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: LogFields = {}): void {
    const left = this.limiter.admit(this.now());
    if (left === undefined) return;
    this.log[level](message, left > 0 ? { ...fields, not_logged_before: left } : fields);
  }

  /** Says how many were left out since the last line (call when the source ends). */
  flush(message: string): void {
    const left = this.limiter.takeRefused();
    if (left > 0) this.log.warn(message, { not_logged: left });
  }
}
