/**
 * Logs go to stderr, always: stdout belongs to the MCP protocol in stdio mode.
 * A TTY gets readable lines; anything else gets one JSON object per line.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line carries these fields (e.g. `tenant`). */
  with(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const threshold = rank[options.level ?? 'info'];
  const json = options.json ?? !process.stderr.isTTY;
  const write = options.write ?? ((line: string) => process.stderr.write(line));

  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (rank[level] < threshold) return;
    const all = fields ? { ...bound, ...fields } : bound;
    if (json) {
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all })}\n`);
      return;
    }
    const tenant = all.tenant === undefined ? '' : `[${all.tenant}] `;
    const extra = Object.entries(all)
      .filter(([key, value]) => key !== 'tenant' && value !== undefined)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ');
    write(`${level.padEnd(5)} ${tenant}${message}${extra ? ` ${extra}` : ''}\n`);
  };

  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    with: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** For tests and library users who want quiet. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
