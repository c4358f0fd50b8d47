import { ErrorCode, McpTenantsError } from '../core/errors.js';
import {
  classifyMessage,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcResponse,
} from '../core/jsonrpc.js';
import { LineSplitter } from '../core/line-splitter.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import { LATEST_SESSION_PROTOCOL_VERSION, SUPERVISOR_INFO } from '../core/revisions.js';
import { readChildLine } from './child-line.js';
import { type ChildExit, ChildProcess, type SpawnPlan } from './child-process.js';
import { childLogLine } from './child-stderr.js';
import { applyIdentity } from './run-as.js';

export interface ChildLinkOptions {
  plan: SpawnPlan;
  maxLineBytes: number;
  /** Deepest JSON a stdout line may nest (`server.max_json_depth`); deeper lines are dropped. */
  maxJsonDepth: number;
  initializeTimeoutMs: number;
  log: Logger;
  /** Every message the child sends once initialized. */
  onMessage: (message: JsonRpcMessage) => void;
  /** Called once when the child has exited, for whatever reason. */
  onExit: (exit: ChildExit, reason: string) => void;
}

/** See `ChildLink.congested`. */
export const MAX_CHILD_UNREAD_BYTES = 8 * 1024 * 1024;

/** Id of the supervisor's own `initialize`; relayed ids start at 1. */
const INITIALIZE_ID = 0;

/**
 * A started and initialized child: the stdio framing, the one `initialize`
 * handshake the supervisor does on behalf of every front session, and the
 * child's stderr forwarded to the log. Knows nothing about sessions.
 */
export class ChildLink {
  private exitReason: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly initializeResult: JsonObject,
  ) {}

  static async open(options: ChildLinkOptions): Promise<ChildLink> {
    const { log } = options;
    const child = await ChildProcess.start(applyIdentity(options.plan));
    let link: ChildLink | undefined;
    let onInitialized: ((result: JsonRpcResponse) => void) | undefined;
    let exitReason: string | undefined;
    // Whatever the child floods stdout with, the log gets a few lines of it.
    const dropped = new LogLimiter(log);

    const splitter = new LineSplitter(
      options.maxLineBytes,
      (line, bytes) => {
        const parsed = readChildLine(line, bytes, options.maxJsonDepth, dropped);
        if (parsed === undefined) return;
        const kind = classifyMessage(parsed);
        if (typeof kind !== 'string') {
          dropped.warn('child sent an invalid JSON-RPC message; dropped', {
            reason: kind.invalid,
          });
          return;
        }
        const message = parsed as unknown as JsonRpcMessage; // classifyMessage checked its shape
        if (kind === 'response' && 'id' in message && message.id === INITIALIZE_ID && !link) {
          onInitialized?.(message as JsonRpcResponse);
          return;
        }
        if (!link) return;
        // One message that cannot be handled is dropped; the child and every
        // other message of its tenant go on.
        try {
          options.onMessage(message);
        } catch (error) {
          dropped.line('error', "handling a message from the tenant's server failed; dropped", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      },
      (bytes) => {
        exitReason = `child printed a line longer than ${options.maxLineBytes} bytes (${bytes}+ bytes); killed`;
        log.error(exitReason);
        child.kill('SIGKILL');
      },
    );
    child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
    void child.exited.then(() => dropped.flush('child output dropped without a log line'));
    forwardStderr(child, log);

    const exitedEarly = child.exited.then((exit) => {
      throw new McpTenantsError(ErrorCode.CHILD_UNAVAILABLE, describeEarlyExit(exit));
    });
    const initialized = new Promise<JsonRpcResponse>((resolve) => {
      onInitialized = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new McpTenantsError(
              ErrorCode.CHILD_TIMEOUT,
              `the tenant's server did not answer initialize within ${options.initializeTimeoutMs} ms`,
            ),
          ),
        options.initializeTimeoutMs,
      );
      timer.unref();
    });
    // Prevent an unhandled rejection once the race below has been decided.
    exitedEarly.catch(() => {});

    writeLine(child, {
      jsonrpc: '2.0',
      id: INITIALIZE_ID,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_SESSION_PROTOCOL_VERSION,
        // Declared so children may ask; the relay routes each such request
        // to a session whose own client declared the capability.
        capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
        clientInfo: SUPERVISOR_INFO,
      },
    });

    let response: JsonRpcResponse;
    try {
      response = await Promise.race([initialized, exitedEarly, timedOut]);
    } catch (error) {
      void child.stop({ afterStdinEndMs: 200, afterSigtermMs: 1_000 });
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if ('error' in response) {
      void child.stop();
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `the tenant's server refused initialize: ${response.error.message}`,
      );
    }
    link = new ChildLink(child, response.result);
    void child.exited.then((exit) => {
      const reason = exitReason ?? link?.exitReason ?? describeExit(exit);
      options.onExit(exit, reason);
    });
    writeLine(child, { jsonrpc: '2.0', method: 'notifications/initialized' });
    log.info('child ready', { pid: child.pid });
    return link;
  }

  get pid(): number {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.state === 'running';
  }

  send(message: JsonRpcMessage): void {
    writeLine(this.child, message);
  }

  /**
   * True while the child leaves more than MAX_CHILD_UNREAD_BYTES unread on
   * its stdin: new requests are refused then instead of buffered, so a child
   * that stopped reading cannot grow the supervisor's memory.
   */
  get congested(): boolean {
    return this.child.stdin.writableLength > MAX_CHILD_UNREAD_BYTES;
  }

  /** Graceful stop: stdin EOF, SIGTERM, SIGKILL. */
  stop(reason: string): Promise<ChildExit> {
    this.exitReason ??= reason;
    return this.child.stop();
  }

  kill(reason: string): void {
    this.exitReason ??= reason;
    this.child.kill('SIGKILL');
  }
}

function writeLine(child: ChildProcess, message: JsonRpcMessage): void {
  if (child.state === 'exited') return;
  const stdin = child.stdin;
  // Messages of one tick go to the child in one write: each pipe write wakes
  // the child, and under load that wake-up costs more than the bytes.
  if (stdin.writableCorked === 0) {
    stdin.cork();
    process.nextTick(() => stdin.uncork());
  }
  stdin.write(`${JSON.stringify(message)}\n`);
}

/** Child stderr lines logged per window; a chattier child has the rest counted. */
const STDERR_LINES = { burst: 200, intervalMs: 10_000 };

function forwardStderr(child: ChildProcess, log: Logger): void {
  const limiter = new LogLimiter(log, STDERR_LINES);
  child.stderr.once('end', () => limiter.flush('child stderr lines not logged (too many)'));
  let partial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    // Bound what one unterminated line can hold.
    if (partial.length > 64 * 1024) partial = partial.slice(0, 64 * 1024);
    for (const line of lines) {
      if (!line.trim()) continue;
      const { level, message, fields } = childLogLine(line);
      limiter.line(level, message, { ...fields, stream: 'stderr' });
    }
  });
}

/**
 * Why a child died before answering `initialize`. The limits wrapper (a shell
 * that joins the cgroup, then execs the command) exits 125 when a limit
 * cannot be applied, and the shell's own 126/127 mean the command cannot run.
 */
function describeEarlyExit(exit: ChildExit): string {
  const prefix = "the tenant's server exited during initialize";
  switch (exit.signal ? undefined : exit.code) {
    case 125:
      return `${prefix}: its resource limits could not be applied (see the "mcp-tenants-limits:" log line); run \`mcp-tenants doctor\``;
    case 126:
      return `${prefix}: its command is not executable (exit code 126); check \`command\` in the manifest`;
    case 127:
      return `${prefix}: its command was not found (exit code 127); check \`command\` in the manifest and PATH`;
    default:
      return `${prefix} (${describeExit(exit)}); check its command and its log`;
  }
}

export function describeExit(exit: ChildExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code}`;
}
