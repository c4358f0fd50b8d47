import { parseJsonObject } from '../core/json-line.js';
import type { LogFields, LogLevel } from '../core/logger.js';

/** Bounds on what one child line may add to a supervisor log line. */
const MAX_FIELDS = 20;
const MAX_VALUE_CHARS = 1000;
const LEVELS: ReadonlySet<string> = new Set(['debug', 'info', 'warn', 'error']);
/**
 * Set by the supervisor alone: a child cannot speak for another tenant or
 * rewrite the time; nor name `__proto__`, which would set the fields' prototype.
 */
const RESERVED: ReadonlySet<string> = new Set([
  'time',
  'level',
  'msg',
  'message',
  'tenant',
  'stream',
  '__proto__',
]);

export interface ChildLogLine {
  level: Exclude<LogLevel, 'silent'>;
  message: string;
  fields: LogFields;
}

/**
 * One line a child printed on stderr, as a supervisor log line. A JSON
 * object with a `msg` (the built-in server's own log format, and that of
 * pino and most structured loggers) keeps its level and fields, so the
 * supervisor's JSON log stays one flat object per line; anything else is
 * the text itself at info.
 */
export function childLogLine(line: string): ChildLogLine {
  const plain: ChildLogLine = { level: 'info', message: line, fields: {} };
  const record = parseJsonObject(line);
  if (!record) return plain;
  const message = record.msg ?? record.message;
  if (typeof message !== 'string') return plain;
  const fields: LogFields = {};
  let count = 0;
  for (const [key, value] of Object.entries(record)) {
    if (RESERVED.has(key) || count >= MAX_FIELDS) continue;
    if (typeof value === 'string') fields[key] = value.slice(0, MAX_VALUE_CHARS);
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null)
      fields[key] = value;
    else continue;
    count += 1;
  }
  const level =
    typeof record.level === 'string' && LEVELS.has(record.level) ? record.level : 'info';
  return {
    level: level as ChildLogLine['level'],
    message: message.slice(0, MAX_VALUE_CHARS),
    fields,
  };
}
