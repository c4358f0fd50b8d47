import type { Readable, Writable } from 'node:stream';
import type { TenantContext } from '../../auth/context.js';
import type { TokenBindings } from '../../auth/token-bindings.js';
import {
  ErrorCode,
  errorFrom,
  JsonRpcCode,
  McpTenantsError,
  toMcpTenantsError,
} from '../../core/errors.js';
import {
  errorResponse,
  isRequest,
  isResponse,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from '../../core/jsonrpc.js';
import { LineSplitter } from '../../core/line-splitter.js';
import type { Logger } from '../../core/logger.js';
import type { RelaySession } from '../../core/pipeline.js';
import { isStatelessRequest, negotiateProtocolVersion } from '../../core/revisions.js';
import type { Tenants } from '../../registry/tenants.js';
import { checkStatelessRequest } from '../../relay/stateless-checks.js';
import { openListenStream, serveStatelessRequest } from '../../relay/stateless-request.js';
import type { TracedRequest, Tracing } from '../../telemetry/tracing.js';
import { readClientMessage } from '../client-message.js';
import { createStdoutWriter } from './stdout-writer.js';

export interface StdioFrontOptions {
  registry: Tenants;
  context: TenantContext;
  input: Readable;
  output: Writable;
  /** Longest line read (the supervisor gives `server.max_body_bytes`, as for HTTP bodies). */
  maxLineBytes: number;
  /** Deepest JSON a line may nest (`server.max_json_depth`). */
  maxJsonDepth: number;
  log: Logger;
  /**
   * Expiry and revocation of the token verified at start, checked again on
   * every request (HTTP fronts verify the token on every request).
   */
  recheck: (context: TenantContext) => void;
  /** Ends the connection's work when its token expires or is revoked, between requests too. */
  tokens: TokenBindings;
  /** Traces of the connection's requests, when tracing is on. */
  tracing?: Tracing | undefined;
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
  const write = createStdoutWriter(output, options.input, log);
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
  const tracing = options.tracing?.on ? options.tracing : undefined;
  /** What the host's `initialize` settled on, for the spans of its requests. */
  let protocolVersion: string | undefined;

  // Stateless (2026-07-28) requests in flight, and open listen streams, by request id.
  const statelessInflight = new Map<JsonRpcId, AbortController>();
  const listens = new Map<JsonRpcId, { close(): void }>();
  const sink = (message: JsonRpcMessage): boolean => {
    write(message);
    return true;
  };

  const answerStateless = async (
    request: JsonRpcRequest,
    reply: (response: JsonRpcResponse) => void,
  ): Promise<void> => {
    const refused = checkStatelessRequest(request);
    if (refused) return reply(refused);
    if (request.method === 'subscriptions/listen') {
      const listen = await openListenStream(relay, request, context, sink);
      listens.set(request.id, listen);
      void listen.ended?.then((end) => {
        if (!end || listens.get(request.id) !== listen) return;
        listens.delete(request.id);
        write(end);
      });
      return;
    }
    const cancel = new AbortController();
    statelessInflight.set(request.id, cancel);
    try {
      const response = await serveStatelessRequest(relay, request, context, sink, cancel.signal);
      // A cancelled request gets no answer; one whose token ended gets the refusal.
      if (!cancel.signal.aborted) reply(response);
      else if (tokenRefusal) reply(errorFrom(request.id, tokenRefusal));
    } catch (error) {
      reply(errorFrom(request.id, error));
    } finally {
      statelessInflight.delete(request.id);
    }
  };

  const cancelStateless = (notification: JsonRpcNotification): boolean => {
    const requestId = notification.params?.requestId as JsonRpcId | undefined;
    if (requestId === undefined) return false;
    const listen = listens.get(requestId);
    if (listen) {
      listens.delete(requestId);
      listen.close();
      return true;
    }
    const inflight = statelessInflight.get(requestId);
    inflight?.abort();
    return inflight !== undefined;
  };

  // Once the token is expired or revoked, every request gets this, until the host restarts us.
  let tokenRefusal: McpTenantsError | undefined;
  const refuseToken = (error: McpTenantsError): void => {
    if (tokenRefusal) return;
    tokenRefusal = new McpTenantsError(
      error.code,
      `${error.message}. Set a new MCP_TENANT_TOKEN (\`mcp-tenants token ${context.tenantId}\`) and restart this server`,
      { cause: error, data: error.data },
    );
    log.warn('MCP_TENANT_TOKEN is no longer valid; refusing every request', {
      reason: error.message,
    });
    for (const [id, listen] of listens) {
      write(errorFrom(id, tokenRefusal));
      listen.close();
    }
    listens.clear();
    for (const inflight of statelessInflight.values()) inflight.abort();
    // Requests in the child are answered with the refusal (see `answer`).
    relay.detach(session);
  };
  const unbind = options.tokens.bind(context, refuseToken);

  const answer = async (request: JsonRpcRequest, trace?: TracedRequest): Promise<void> => {
    // A traced request's span ends with the answer written for it.
    const reply = trace
      ? (response: JsonRpcResponse): void => {
          trace.end(response);
          write(response);
        }
      : write;
    if (!tokenRefusal) {
      const checked = trace?.step('auth');
      try {
        options.recheck(context);
        checked?.();
      } catch (error) {
        checked?.(errorFrom(request.id, error));
        refuseToken(toMcpTenantsError(error));
      }
    }
    if (tokenRefusal) {
      reply(errorFrom(request.id, tokenRefusal));
      return;
    }
    if (isStatelessRequest(request)) {
      await answerStateless(request, reply);
      // A listen stream, or a cancelled request, wrote no answer: its span ends here.
      trace?.end();
      return;
    }
    if (request.method === 'initialize') {
      const capabilities = request.params?.capabilities;
      if (
        typeof capabilities === 'object' &&
        capabilities !== null &&
        !Array.isArray(capabilities)
      ) {
        session.capabilities = capabilities as JsonObject;
      }
      protocolVersion = negotiateProtocolVersion(request.params?.protocolVersion);
      try {
        reply({ jsonrpc: '2.0', id: request.id, result: await relay.initialize(request.params) });
      } catch (error) {
        reply(errorFrom(request.id, error));
      }
      return;
    }
    const response = await relay.forward(session, request);
    reply(tokenRefusal ? errorFrom(request.id, tokenRefusal) : response);
  };

  const onLine = (line: string, bytes: number): void => {
    const read = readClientMessage(line, bytes, options.maxJsonDepth);
    if ('refused' in read) {
      write(errorFrom(read.id, read.refused));
      return;
    }
    const message = read.message;
    if (isRequest(message)) {
      const trace = tracing?.request({
        request: message,
        transport: 'stdio',
        arrivedAt: performance.now(),
        tenant: context.tenantId,
        user: context.userId,
        // A stateless request's own version is in its _meta.
        protocolVersion: isStatelessRequest(message) ? undefined : protocolVersion,
      });
      // A fault answers this one request; the connection goes on.
      answer(message, trace).catch((error: unknown) => {
        log.error('request failed', { method: message.method, error: String(error) });
        trace?.fail(error);
        write(errorFrom(message.id, error));
      });
      return;
    }
    if (tokenRefusal) return;
    if (isResponse(message)) {
      relay.respond(session, message);
      return;
    }
    const notification = message as JsonRpcNotification;
    if (notification.method === 'notifications/cancelled' && cancelStateless(notification)) return;
    relay.notify(session, notification);
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
      unbind();
      options.input.off('data', onData);
      for (const listen of listens.values()) listen.close();
      for (const inflight of statelessInflight.values()) inflight.abort();
      relay.detach(session);
      lease.release();
    },
  };
}
