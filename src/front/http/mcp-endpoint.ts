import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import type { TokenBindings } from '../../auth/token-bindings.js';
import { ErrorCode, errorFrom, JsonRpcCode, McpTenantsError } from '../../core/errors.js';
import type {
  JsonObject,
  JsonRpcNotification,
  JsonRpcRequest,
  JsonRpcResponse,
} from '../../core/jsonrpc.js';
import {
  isStatelessRequest,
  isStatelessVersion,
  isSupportedProtocolVersion,
  negotiateProtocolVersion,
} from '../../core/revisions.js';
import type { Tenants } from '../../registry/tenants.js';
import type { RequestStart, TracedRequest, Tracing } from '../../telemetry/tracing.js';
import { readClientMessage } from '../client-message.js';
import type { HttpSession } from './http-session.js';
import { drainThenClose, readBody } from './read-body.js';
import { headerValue } from './request-headers.js';
import { sendError, sendJson } from './respond.js';
import type { SessionStore } from './session-store.js';
import { handleStatelessRequest } from './stateless-endpoint.js';

/** What MCP allows in a session id: visible ASCII (0x21-0x7E); ours are UUIDs. */
const SESSION_ID = /^[\x21-\x7e]{1,128}$/;

export interface McpEndpointOptions {
  registry: Tenants;
  sessions: SessionStore;
  authenticate: (request: IncomingMessage) => Promise<TenantContext>;
  /** Listen streams end with their token, as sessions do. */
  tokens: TokenBindings;
  maxBodyBytes: number;
  /** Deepest JSON a body may nest (`server.max_json_depth`). */
  maxJsonDepth: number;
  /** Traces of the requests on /mcp, when tracing is on. */
  tracing?: Tracing | undefined;
}

/**
 * `/mcp`: the Streamable HTTP transport of MCP 2025-06-18 / 2025-11-25.
 * POST carries one JSON-RPC message, GET opens the session's event stream,
 * DELETE ends the session. Every request is authenticated, and a session
 * answers only to the tenant and user that opened it.
 */
export function createMcpEndpoint(options: McpEndpointOptions) {
  const { registry, sessions } = options;
  const tracing = options.tracing?.on ? options.tracing : undefined;
  function sessionFor(request: IncomingMessage, context: TenantContext): HttpSession {
    const id = request.headers['mcp-session-id'];
    if (typeof id !== 'string' || id === '') {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        'missing Mcp-Session-Id header: send initialize first and echo the session id it returns',
      );
    }
    if (!SESSION_ID.test(id)) {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        'malformed Mcp-Session-Id: a session id is 1 to 128 visible ASCII characters',
      );
    }
    const session = sessions.get(id);
    // Another tenant's or user's session is reported exactly like an unknown one.
    if (!session || session.tenantId !== context.tenantId || session.userId !== context.userId) {
      throw new McpTenantsError(
        ErrorCode.SESSION_UNKNOWN,
        'unknown or expired session: initialize a new one',
      );
    }
    // The same user's other token (narrower, or a replacement) gets a session of its own.
    if (session.caller.tokenId !== context.tokenId) {
      throw new McpTenantsError(
        ErrorCode.SESSION_UNKNOWN,
        'this session was opened with another token; a session answers only to the token that opened it: initialize a new one',
      );
    }
    const version = request.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !isSupportedProtocolVersion(version)) {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        `unsupported MCP-Protocol-Version "${version}"`,
      );
    }
    session.lastActivity = Date.now();
    return session;
  }

  function tenantOf(context: TenantContext): string {
    if (context.tenantId === null) {
      throw new McpTenantsError(
        ErrorCode.FORBIDDEN,
        'operator tokens cannot call tenant tools; use a tenant token (`mcp-tenants token <tenant>`)',
      );
    }
    return context.tenantId;
  }

  async function post(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Untraced, no clock is read: the request span starts here, its parent read from the body.
    const arrivedAt = tracing ? performance.now() : 0;
    let context: TenantContext;
    try {
      context = await options.authenticate(request);
    } catch (error) {
      tracing?.refused(
        {
          arrivedAt,
          method: headerValue(request, 'mcp-method'),
          clientAddress: request.socket.remoteAddress,
          clientPort: request.socket.remotePort,
        },
        error,
      );
      throw error;
    }
    const authenticatedAt = tracing ? performance.now() : 0;
    const contentType = request.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(contentType)) {
      throw new McpTenantsError(
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        'Content-Type must be application/json',
      );
    }
    const accept = request.headers.accept ?? '';
    if (accept !== '' && !/application\/json|\*\/\*|application\/\*/i.test(accept)) {
      throw new McpTenantsError(
        ErrorCode.NOT_ACCEPTABLE,
        'Accept must include application/json and text/event-stream',
      );
    }
    const acceptsSse = /text\/event-stream/i.test(accept);

    let body: Buffer;
    try {
      body = await readBody(request, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof McpTenantsError && error.code === ErrorCode.BODY_TOO_LARGE) {
        // Enough for what a client has in flight when it sees the 413 (loopback
        // buffers hold megabytes), so one that stops then is not reset.
        drainThenClose(request, response, {
          maxBytes: Math.max(options.maxBodyBytes * 2, 16 * 1024 * 1024),
          maxMs: 2_000,
        });
      }
      throw error;
    }
    const read = readClientMessage(body.toString('utf8'), body.length, options.maxJsonDepth);
    if ('refused' in read) {
      sendError(response, read.refused, { id: read.id });
      return;
    }
    const message = read.message;
    const trace =
      tracing && 'id' in message && 'method' in message
        ? tracing.request(
            traceStart(request, message as JsonRpcRequest, context, arrivedAt, authenticatedAt),
          )
        : undefined;
    try {
      if (
        request.headers['mcp-session-id'] === undefined &&
        !('id' in message) &&
        'method' in message &&
        isStatelessVersion(String(request.headers['mcp-protocol-version']))
      ) {
        // 2026-07-28 defines no client notifications over HTTP (closing a stream cancels).
        response.writeHead(202).end();
        return;
      }
      // A stateless request says so in its _meta, or only in its header (and
      // then is refused for the _meta it lacks, not served as a session's).
      const statelessHeader = isStatelessVersion(String(request.headers['mcp-protocol-version']));
      if (
        request.headers['mcp-session-id'] === undefined &&
        'id' in message &&
        'method' in message &&
        (isStatelessRequest(message) || statelessHeader)
      ) {
        const relay = registry.relayFor(tenantOf(context));
        await handleStatelessRequest({
          request,
          response,
          message: message as JsonRpcRequest,
          relay,
          caller: context,
          acceptsSse,
          tokens: options.tokens,
          unread: sessions.unread,
          trace,
        });
        return;
      }

      if ('method' in message && message.method === 'initialize' && 'id' in message) {
        await initialize(request, response, context, message as JsonRpcRequest, trace);
        return;
      }
      const session = sessionFor(request, context);
      if (!('method' in message)) {
        // A client's answer to a request the child sent it (sampling, elicitation, roots).
        session.relay.respond(session, message as JsonRpcResponse);
        response.writeHead(202, session.headers).end();
        return;
      }
      if (!('id' in message)) {
        session.relay.notify(session, message as JsonRpcNotification);
        response.writeHead(202, session.headers).end();
        return;
      }
      await session.handleRequest(response, message as JsonRpcRequest, acceptsSse);
    } catch (error) {
      trace?.fail(error);
      throw error;
    } finally {
      // A relayed request's answer reached the trace through the telemetry stage.
      trace?.end();
    }
  }

  async function initialize(
    request: IncomingMessage,
    response: ServerResponse,
    context: TenantContext,
    message: JsonRpcRequest,
    trace: TracedRequest | undefined,
  ): Promise<void> {
    if (request.headers['mcp-session-id'] !== undefined) {
      throw new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        'initialize must not carry an Mcp-Session-Id: this session is already initialized',
      );
    }
    const tenantId = tenantOf(context);
    const lease = registry.lease(tenantId);
    let result: Awaited<ReturnType<typeof lease.relay.initialize>>;
    try {
      result = await lease.relay.initialize(message.params);
      // After the wait, in the same turn as `create`: initializes sent together cannot all pass.
      sessions.admit(tenantId, context.userId, lease.relay.config.quotas);
    } catch (error) {
      lease.release();
      const failure = errorFrom(message.id, error);
      const status = error instanceof McpTenantsError ? error.httpStatus : 500;
      trace?.end(failure);
      sendJson(response, status, failure);
      return;
    }
    const version = negotiateProtocolVersion(message.params?.protocolVersion);
    const capabilities = message.params?.capabilities;
    const session = sessions.create(
      tenantId,
      context,
      version,
      isObject(capabilities) ? capabilities : undefined,
      lease,
    );
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: message.id, result };
    trace?.sessionOpened(session.id);
    trace?.end(answer);
    sendJson(response, 200, answer, session.headers);
  }

  async function get(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const context = await options.authenticate(request);
    if (!/text\/event-stream/i.test(request.headers.accept ?? '')) {
      throw new McpTenantsError(ErrorCode.NOT_ACCEPTABLE, 'Accept must include text/event-stream');
    }
    const session = sessionFor(request, context);
    if (!session.openStandalone(response)) {
      sendJson(response, 409, {
        jsonrpc: '2.0',
        id: null,
        error: {
          code: JsonRpcCode.INVALID_REQUEST,
          message: 'this session already has an open event stream',
        },
      });
    }
  }

  async function remove(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const context = await options.authenticate(request);
    const session = sessionFor(request, context);
    sessions.delete(session.id);
    response.writeHead(200).end();
  }

  return async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    switch (request.method) {
      case 'POST':
        return post(request, response);
      case 'GET':
        return get(request, response);
      case 'DELETE':
        return remove(request, response);
      default:
        throw new McpTenantsError(
          ErrorCode.METHOD_NOT_ALLOWED,
          `method ${request.method} is not allowed on /mcp; use POST, GET or DELETE`,
        );
    }
  };
}

/** What the span of a request on /mcp records of its HTTP request. */
function traceStart(
  request: IncomingMessage,
  message: JsonRpcRequest,
  context: TenantContext,
  arrivedAt: number,
  authenticatedAt: number,
): RequestStart {
  const sessionId = headerValue(request, 'mcp-session-id');
  const version = headerValue(request, 'mcp-protocol-version');
  return {
    request: message,
    transport: 'http',
    arrivedAt,
    authenticatedAt,
    tenant: context.tenantId,
    user: context.userId,
    // Only well-formed values: the headers are the client's to fill.
    sessionId: sessionId !== undefined && SESSION_ID.test(sessionId) ? sessionId : undefined,
    protocolVersion:
      version !== undefined && (isSupportedProtocolVersion(version) || isStatelessVersion(version))
        ? version
        : undefined,
    clientAddress: request.socket.remoteAddress,
    clientPort: request.socket.remotePort,
  };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
