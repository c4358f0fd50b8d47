/** MCP logging levels (RFC 5424 severities), least to most severe. */
export const LOG_LEVELS = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
] as const;

export type McpLogLevel = (typeof LOG_LEVELS)[number];

/** What a session that never sent `logging/setLevel` receives. */
export const DEFAULT_SESSION_LOG_LEVEL: McpLogLevel = 'info';

export function isLogLevel(value: unknown): value is McpLogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export function severity(level: McpLogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

/**
 * Per-session log levels. The child gets the most verbose level any session
 * asked for; each session then receives only messages at or above its own.
 */
export class LogLevels<Session> {
  private readonly levels = new Map<Session, McpLogLevel>();

  set(session: Session, level: McpLogLevel): void {
    this.levels.set(session, level);
  }

  has(session: Session): boolean {
    return this.levels.has(session);
  }

  delete(session: Session): void {
    this.levels.delete(session);
  }

  /** The level the child must emit at, or undefined when no session set one. */
  childLevel(): McpLogLevel | undefined {
    let lowest: McpLogLevel | undefined;
    for (const level of this.levels.values()) {
      if (lowest === undefined || severity(level) < severity(lowest)) lowest = level;
    }
    return lowest;
  }

  /** The session's own level, or the default for a session that never set one. */
  levelOf(session: Session): McpLogLevel {
    return this.levels.get(session) ?? DEFAULT_SESSION_LOG_LEVEL;
  }

  wants(session: Session, level: McpLogLevel): boolean {
    return severity(level) >= severity(this.levels.get(session) ?? DEFAULT_SESSION_LOG_LEVEL);
  }
}
