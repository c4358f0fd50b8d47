import type { Readable, Writable } from 'node:stream';
import { authInvalid } from '../../auth/auth-error.js';
import type { TenantContext } from '../../auth/context.js';
import { ErrorCode, JsonRpcCode, McpTenantsError } from '../../errors.js';
import {
  classifyMessage,
  errorResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../relay/jsonrpc.js';
import { LineSplitter } from '../../relay/line-splitter.js';
import { isModernRequest } from '../../relay/modern.js';
import {
  checkModernVersion,
  openListenStream,
  serveModernRequest,
} from '../../relay/modern-request.js';
import { errorFrom, type RelaySession } from '../../relay/tenant-relay.js';
import type { TenantRegistry } from '../../supervisor/tenant-registry.js';
import type { Logger } from '../../telemetry/logger.js';

export interface StdioFrontOptions {
  registry: TenantRegistry;
  context: TenantContext;
  input: Readable;
  output: Writable;
  maxLineBytes: number;
  log: Logger;
  /**
   * The `jti` deny list. The token was verified once, at start (HTTP fronts
   * verify it on every request), so this is where a revocation reaches a
   * stdio connection: from its next request on.
   */
  isRevoked?: (jti: string) => boolean;
}

export interface StdioFront {
  /** Resolves when the input ends (the host closed the connection). */
  readonly ended: Promise<void>;
  close(): void;
}

/**
 * One MCP connection over stdin/stdout for desktop hosts. The tenant and user
 * come from the token checked at start; stdout carries nothing but protocol.
 */
export function startStdioFront(options: StdioFrontOptions): StdioFront {
  const { context, output, log } = options;
  if (context.tenantId === null) {
    throw new McpTenantsError(
      ErrorCode.FORBIDDEN,
      'MCP_TENANT_TOKEN is an operator token; stdio needs a tenant token (`mcp-tenants token <tenant>`)',
    );
  }
  const lease = options.registry.lease(context.tenantId);
  const relay = lease.relay;
  const write = (message: JsonRpcMessage): void => {
    if (!output.writableEnded) output.write(`${JSON.stringify(message)}\n`);
  };
  const session: RelaySession & { capabilities: JsonObject | undefined } = {
    id: 'stdio',
    caller: context,
    capabilities: undefined,
    deliver: (message) => {
      write(message);
      return true;
    },
  };
  relay.attach(session);

  // Stateless (2026-07-28) requests in flight, and open listen streams, by request id.
  const modernInflight = new Map<JsonRpcId, AbortController>();
  const listens = new Map<JsonRpcId, { close(): void }>();
  const sink = (message: JsonRpcMessage): boolean => {
    write(message);
    return true;
  };

  const answerModern = async (request: JsonRpcRequest): Promise<void> => {
    if (request.method === 'subscriptions/listen') {
      const refused = checkModernVersion(request);
      if (refused) return write(refused);
      listens.set(request.id, await openListenStream(relay, request, context, sink));
      return;
    }
    const cancel = new AbortController();
    modernInflight.set(request.id, cancel);
    try {
      const response = await serveModernRequest(relay, request, context, sink, cancel.signal);
      // A cancelled request gets no answer.
      if (!cancel.signal.aborted) write(response);
    } catch (error) {
      write(errorFrom(request.id, error));
    } finally {
      modernInflight.delete(request.id);
    }
  };

  const cancelModern = (notification: JsonRpcNotification): boolean => {
    const requestId = notification.params?.requestId as JsonRpcId | undefined;
    if (requestId === undefined) return false;
    const listen = listens.get(requestId);
    if (listen) {
      listens.delete(requestId);
      listen.close();
      return true;
    }
    const inflight = modernInflight.get(requestId);
    inflight?.abort();
    return inflight !== undefined;
  };

  const answer = async (request: JsonRpcRequest): Promise<void> => {
    const jti = context.jti;
    if (jti !== undefined && options.isRevoked?.(jti)) {
      write(
        errorFrom(request.id, authInvalid('revoked', 'token has been revoked; ask for a new one')),
      );
      return;
    }
    if (isModernRequest(request)) return answerModern(request);
    if (request.method === 'initialize') {
      const capabilities = request.params?.capabilities;
      if (
        typeof capabilities === 'object' &&
        capabilities !== null &&
        !Array.isArray(capabilities)
      ) {
        session.capabilities = capabilities as JsonObject;
      }
      try {
        write({ jsonrpc: '2.0', id: request.id, result: await relay.initialize(request.params) });
      } catch (error) {
        write(errorFrom(request.id, error));
      }
      return;
    }
    write(await relay.forward(session, request));
  };

  const onLine = (line: string): void => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      write(errorResponse(null, JsonRpcCode.PARSE_ERROR, 'line is not valid JSON'));
      return;
    }
    if (Array.isArray(value)) {
      write(errorResponse(null, JsonRpcCode.INVALID_REQUEST, 'JSON-RPC batches are not supported'));
      return;
    }
    const kind = classifyMessage(value);
    if (typeof kind !== 'string') {
      const id = (value as { id?: unknown } | null)?.id;
      const echo = typeof id === 'string' || typeof id === 'number' ? (id as JsonRpcId) : null;
      write(
        errorResponse(
          echo,
          JsonRpcCode.INVALID_REQUEST,
          `invalid JSON-RPC message: ${kind.invalid}`,
        ),
      );
      return;
    }
    if (kind === 'request') void answer(value as JsonRpcRequest);
    else if (kind === 'notification') {
      const notification = value as JsonRpcNotification;
      if (notification.method === 'notifications/cancelled' && cancelModern(notification)) return;
      relay.notify(session, notification);
    } else relay.respond(session, value as JsonRpcResponse);
  };

  const splitter = new LineSplitter(options.maxLineBytes, onLine, (bytes) => {
    log.warn('message on stdin too long; skipped', { bytes });
    write(
      errorResponse(
        null,
        JsonRpcCode.INVALID_REQUEST,
        `message longer than ${options.maxLineBytes} bytes`,
      ),
    );
  });
  const onData = (chunk: Buffer): void => splitter.push(chunk);
  options.input.on('data', onData);
  const ended = new Promise<void>((resolve) => {
    options.input.once('end', resolve);
    options.input.once('close', resolve);
  });

  return {
    ended,
    close() {
      options.input.off('data', onData);
      for (const listen of listens.values()) listen.close();
      for (const inflight of modernInflight.values()) inflight.abort();
      relay.detach(session);
      lease.release();
    },
  };
}
