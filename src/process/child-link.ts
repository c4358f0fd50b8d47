import { ErrorCode, McpTenantsError } from '../core/errors.js';
import {
  classifyMessage,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcResponse,
  metaOf,
} from '../core/jsonrpc.js';
import { LineSplitter } from '../core/line-splitter.js';
import { LogLimiter } from '../core/log-limiter.js';
import type { Logger } from '../core/logger.js';
import {
  LATEST_SESSION_PROTOCOL_VERSION,
  META,
  STATELESS_PROTOCOL_VERSIONS,
  SUPERVISOR_INFO,
} from '../core/revisions.js';
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

/** Ids of the supervisor's own handshake requests; relayed ids start at 1. */
const DISCOVER_ID = 0;
const INITIALIZE_ID = -1;
/** How long a child may take to answer `server/discover` before `initialize` is sent too. */
const DISCOVER_PROBE_MS = 1_000;

/** The revision a child speaks with the supervisor, found at its start. */
export type ChildRevision = 'stateless' | 'session';

/**
 * A started child past its one handshake (`server/discover` or `initialize`,
 * done on behalf of every front session): the stdio framing, the
 * child's stderr forwarded to the log. Knows nothing about sessions.
 */
export class ChildLink {
  private exitReason: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    /** What the child said of itself: capabilities, serverInfo, instructions. */
    readonly initializeResult: JsonObject,
    /** Whether requests to it carry their revision in `_meta` (2026-07-28). */
    readonly revision: ChildRevision,
  ) {}

  get speaksStateless(): boolean {
    return this.revision === 'stateless';
  }

  static async open(options: ChildLinkOptions): Promise<ChildLink> {
    const { log } = options;
    const child = await ChildProcess.start(applyIdentity(options.plan));
    let link: ChildLink | undefined;
    const handshakeAnswers = new Map<number, (response: JsonRpcResponse) => void>();
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
        if (
          kind === 'response' &&
          'id' in message &&
          (message.id === DISCOVER_ID || message.id === INITIALIZE_ID)
        ) {
          // A late answer to the handshake that lost is dropped here too.
          handshakeAnswers.get(message.id)?.(message as JsonRpcResponse);
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
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new McpTenantsError(
              ErrorCode.CHILD_TIMEOUT,
              `the tenant's server did not answer server/discover or initialize within ${options.initializeTimeoutMs} ms`,
            ),
          ),
        options.initializeTimeoutMs,
      );
      timer.unref();
    });
    // Prevent an unhandled rejection once the race below has been decided.
    exitedEarly.catch(() => {});

    let handshake: Handshake;
    try {
      handshake = await Promise.race([
        negotiate(
          (message) => writeLine(child, message),
          (id) => new Promise((resolve) => handshakeAnswers.set(id, resolve)),
          Math.min(DISCOVER_PROBE_MS, options.initializeTimeoutMs / 3),
        ),
        exitedEarly,
        timedOut,
      ]);
    } catch (error) {
      void child.stop({ afterStdinEndMs: 200, afterSigtermMs: 1_000 });
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if ('refused' in handshake) {
      void child.stop();
      throw new McpTenantsError(
        ErrorCode.CHILD_UNAVAILABLE,
        `the tenant's server refused initialize: ${handshake.refused}`,
      );
    }
    link = new ChildLink(child, handshake.result, handshake.revision);
    void child.exited.then((exit) => {
      const reason = exitReason ?? link?.exitReason ?? describeExit(exit);
      options.onExit(exit, reason);
    });
    if (handshake.revision === 'session') {
      writeLine(child, { jsonrpc: '2.0', method: 'notifications/initialized' });
    }
    log.info('child ready', { pid: child.pid, revision: handshake.revision });
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
  // Messages of one turn of the event loop (every request read from the
  // sockets that were ready together) go to the child in one write: each
  // pipe write wakes the child, and under load that wake-up costs more than
  // the bytes. setImmediate runs right after the poll phase that read them.
  if (stdin.writableCorked === 0) {
    stdin.cork();
    setImmediate(() => stdin.uncork());
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

type Handshake = { result: JsonObject; revision: ChildRevision } | { refused: string };

/** The client capabilities the supervisor declares to children: whatever a session can route. */
const SUPERVISOR_CAPABILITIES = { sampling: {}, elicitation: {}, roots: { listChanged: true } };

/**
 * Finds out what the child speaks, in its own newest revision: first
 * `server/discover` (2026-07-28; a 2.x SDK child then speaks that revision
 * for the whole connection), then `initialize` when the child refuses it
 * (a 2025 child: "method not found") or has not answered within `probeMs`
 * (DISCOVER_PROBE_MS, less for a short start timeout). Whichever usable
 * answer comes first decides.
 */
async function negotiate(
  send: (message: JsonRpcMessage) => void,
  answer: (id: number) => Promise<JsonRpcResponse>,
  probeMs: number,
): Promise<Handshake> {
  const discovered = answer(DISCOVER_ID);
  const initialized = answer(INITIALIZE_ID);
  send({
    jsonrpc: '2.0',
    id: DISCOVER_ID,
    method: 'server/discover',
    params: {
      _meta: {
        [META.protocolVersion]: STATELESS_PROTOCOL_VERSIONS[0],
        [META.clientCapabilities]: SUPERVISOR_CAPABILITIES,
        [META.clientInfo]: SUPERVISOR_INFO,
      },
    },
  });
  const stateless = discovered.then((response) => statelessHandshake(response));
  let probe: NodeJS.Timeout | undefined;
  const first = await Promise.race([
    stateless,
    new Promise<undefined>((resolve) => {
      probe = setTimeout(() => resolve(undefined), probeMs);
      probe.unref();
    }),
  ]);
  clearTimeout(probe);
  if (first) return first;
  send({
    jsonrpc: '2.0',
    id: INITIALIZE_ID,
    method: 'initialize',
    params: {
      protocolVersion: LATEST_SESSION_PROTOCOL_VERSION,
      // Declared so children may ask; the relay routes each such request
      // to a session whose own client declared the capability.
      capabilities: SUPERVISOR_CAPABILITIES,
      clientInfo: SUPERVISOR_INFO,
    },
  });
  // Once initialize is sent, its success decides: a 2.x SDK child that read
  // discover first and then initialize stays on the session revision. Only
  // a child that refuses initialize (one that speaks 2026-07-28 alone) is
  // taken at its late discover answer.
  const response = await initialized;
  if (!('error' in response)) return { result: response.result, revision: 'session' };
  const late = await Promise.race([
    stateless,
    new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
  ]);
  return late ?? { refused: response.error.message };
}

/** The handshake of a child that speaks 2026-07-28, or undefined for one that does not. */
function statelessHandshake(response: JsonRpcResponse): Handshake | undefined {
  if (!('result' in response)) return undefined;
  const result = response.result;
  const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions : [];
  const version = STATELESS_PROTOCOL_VERSIONS.find((known) => versions.includes(known));
  if (version === undefined) return undefined;
  const meta = metaOf(result);
  const normalized: JsonObject = {
    protocolVersion: version,
    capabilities: result.capabilities ?? {},
    serverInfo: meta?.[META.serverInfo] ?? result.serverInfo ?? {},
  };
  if (typeof result.instructions === 'string') normalized.instructions = result.instructions;
  return { result: normalized, revision: 'stateless' };
}
