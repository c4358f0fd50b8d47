import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authInvalid } from '../../auth/auth-error.js';
import { bearerToken } from '../../auth/bearer.js';
import type { TenantContext } from '../../auth/context.js';
import type { TokenBindings } from '../../auth/token-bindings.js';
import type { ServerConfig } from '../../core/config.js';
import { ErrorCode, McpTenantsError, toMcpTenantsError } from '../../core/errors.js';
import { healthzHeaders } from '../../core/healthz.js';
import { LogLimiter } from '../../core/log-limiter.js';
import type { Logger } from '../../core/logger.js';
import type { HostLimitsReport } from '../../process/limits/index.js';
import type { Tenants } from '../../registry/tenants.js';
import type { Tracing } from '../../telemetry/tracing.js';
import { type AdminAudit, createAdminEndpoint } from './admin.js';
import { answerClientError } from './client-error.js';
import { checkOrigin, originPolicy } from './guards.js';
import { createMcpEndpoint } from './mcp-endpoint.js';
import { createMetricsEndpoint, type MetricsRenderer } from './metrics-endpoint.js';
import {
  isOAuthEndpoint,
  type OAuthAnnouncement,
  RESOURCE_METADATA_PATH,
  refuseOAuth,
  sendResourceMetadata,
} from './oauth.js';
import { sendError, sendJson } from './respond.js';
import { SessionCaps } from './session-caps.js';
import { SessionStore } from './session-store.js';
import { createStatusPage, type FiguresProvider } from './status-page.js';
import { UnreadBudget } from './unread-budget.js';

export interface HttpFrontOptions {
  server: ServerConfig;
  registry: Tenants;
  authenticate: (authorization: string | undefined) => Promise<TenantContext>;
  /** Expiry and revocation again for a context verified earlier (a status page cookie's). */
  recheck: (context: TenantContext) => void;
  /** Which limit layers this host enforces, shown to operators on /admin/tenants. */
  /** How limits are enforced on this host, shown to operators. */
  hostLimits?: HostLimitsReport | undefined;
  /** Sessions and streams end with their token (expiry, revocation). */
  tokens: TokenBindings;
  /** The manifest's secret, which `GET /healthz?proof=` proves this server holds. */
  secret: () => string;
  /** What RFC 9728 metadata and the OAuth endpoints announce about tokens (current manifest). */
  oauth: () => OAuthAnnouncement;
  /** Request figures per tenant for the status page, when telemetry runs. */
  figures?: FiguresProvider | undefined;
  /** `GET /metrics` (Prometheus text), when telemetry runs. */
  metrics?: MetricsRenderer | undefined;
  /** Told about every refused token, for the audit trail. */
  onTokenRefused?: ((refusal: TokenRefusal) => void) | undefined;
  /** Admin actions, for the audit trail. */
  audit?: AdminAudit | undefined;
  /** In a cluster: sends a request for /mcp to the node that serves it. */
  peers?: PeerRouting | undefined;
  /**
   * Also listen on a port of this process's own on this address (a free
   * one): where peers reach one worker of several sharing the main port.
   */
  peerListenHost?: string | undefined;
  /** Traces of the requests on /mcp, when tracing is on. */
  tracing?: Tracing | undefined;
  log: Logger;
}

/**
 * How a front in a cluster passes requests on: `pass` answers the request
 * by relaying it to the node that serves it (true), or says to serve it
 * here (false) — at once where the headers alone decide, the common case,
 * else after asking the store who holds the tenant. The body is not read.
 */
export interface PeerRouting {
  /** Whether a peer forwarded this request (verified); a forged claim throws. */
  isForwarded(request: IncomingMessage): boolean;
  pass(request: IncomingMessage, response: ServerResponse): false | Promise<boolean>;
  /** A new session's id, naming this node so every node can route it. */
  newSessionId(): string;
}

export interface TokenRefusal {
  token: string | undefined;
  error: McpTenantsError;
  path: string;
  remoteAddress: string | undefined;
}

export interface HttpFront {
  /** `http://<host>:<port>/mcp`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Where peers reach this process, when it listens on a port of its own too (`peerListenHost`). */
  readonly peerUrl: string | undefined;
  readonly sessions: SessionStore;
  /** Refuses new connections; open ones keep being served. */
  stopAccepting(): void;
  /** Stops accepting, ends every session and stream. Idempotent. */
  close(): Promise<void>;
}

/** Refusals logged (at warn, rate-limited): a token refused or missing, forbidden, unknown session, over a limit. */
const REFUSALS_LOGGED: ReadonlySet<number> = new Set([401, 403, 404, 429]);

export async function startHttpFront(options: HttpFrontOptions): Promise<HttpFront> {
  const { server: config, log, peers } = options;
  const sessions = new SessionStore(
    config.session_idle_timeout_ms,
    options.tokens,
    new SessionCaps(config),
    new UnreadBudget(config.max_unread_bytes),
    peers ? () => peers.newSessionId() : randomUUID,
  );
  // Every refused token is reported (audit trail), then refused as before.
  const verify = async (
    authorization: string | undefined,
    request: IncomingMessage | undefined,
  ): Promise<TenantContext> => {
    try {
      return await options.authenticate(authorization);
    } catch (error) {
      options.onTokenRefused?.({
        token: bearerToken(authorization),
        error: toMcpTenantsError(error),
        path: (request?.url ?? '/').split('?', 1)[0] ?? '/',
        remoteAddress: request?.socket.remoteAddress,
      });
      throw error;
    }
  };
  const authenticate = (request: IncomingMessage) => verify(request.headers.authorization, request);
  const endpoint = createMcpEndpoint({
    registry: options.registry,
    sessions,
    authenticate,
    tokens: options.tokens,
    maxBodyBytes: config.max_body_bytes,
    maxJsonDepth: config.max_json_depth,
    tracing: options.tracing,
  });
  const admin = createAdminEndpoint({
    registry: options.registry,
    authenticate,
    audit: options.audit,
    hostLimits: options.hostLimits,
    sessionCount: () => sessions.size,
  });
  const statusPage = createStatusPage({
    registry: options.registry,
    authenticate: (authorization) => verify(authorization, undefined),
    recheck: options.recheck,
    figures: options.figures,
  });
  const metrics = options.metrics && createMetricsEndpoint(options.metrics, authenticate);
  let policy = originPolicy(config, config.port);
  let baseUrl = '';
  // What clients are told to use: the proxy's origin in front, else our own.
  let publicBase = '';

  // Operators see why clients are turned away, in a few lines however many are.
  const refusals = new LogLimiter(log, { burst: 20, intervalMs: 10_000 });
  // Apart: a client probing for OAuth must not hide the other refusals.
  const oauthProbes = new LogLimiter(log, { burst: 5, intervalMs: 10_000 });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (path === '/mcp') {
      // A peer checked Origin and Host where the client connected (to its own address).
      if (!peers?.isForwarded(request)) checkOrigin(request, policy);
      if (/[?&](access_)?token=/.test(request.url ?? '')) {
        const refusal = authInvalid(
          'token_in_query',
          'tokens are not accepted in the query string; send Authorization: Bearer <token>',
        );
        // Audited without the token: a query string ends up in proxies' logs, ours keep it out.
        options.onTokenRefused?.({
          token: undefined,
          error: refusal,
          path,
          remoteAddress: request.socket.remoteAddress,
        });
        throw refusal;
      }
      const passed = peers?.pass(request, response);
      if (passed && (await passed)) return;
      await endpoint(request, response);
      return;
    }
    if ((path === '/' || path === '/status.json') && (await statusPage(request, response, path))) {
      return;
    }
    if (path?.startsWith('/admin/')) {
      checkOrigin(request, policy);
      await admin(request, response, path);
      return;
    }
    if (path !== undefined && isOAuthEndpoint(path)) {
      oauthProbes.warn('refused an OAuth request: this server issues no tokens', {
        method: request.method,
        path,
        remote: request.socket.remoteAddress,
      });
      refuseOAuth(response, path, options.oauth(), publicBase);
      return;
    }
    if (request.method !== 'GET') {
      throw new McpTenantsError(ErrorCode.NOT_FOUND, `no route for ${request.method} ${path}`);
    }
    if (path === '/metrics' && metrics) {
      await metrics(request, response);
      return;
    }
    if (path === '/healthz') {
      // Liveness only: anyone who reaches the port may ask, so nothing about
      // tenants, sessions or limits (that is /admin/tenants and /metrics).
      // `?proof=<nonce>` is answered with a proof of the manifest's secret,
      // so `doctor` can tell this supervisor on its port from any other.
      const nonce = new URLSearchParams((request.url ?? '').split('?', 2)[1] ?? '').get('proof');
      sendJson(response, 200, { status: 'ok' }, healthzHeaders(options.secret(), nonce));
      return;
    }
    if (path === RESOURCE_METADATA_PATH || path === `${RESOURCE_METADATA_PATH}/mcp`) {
      sendResourceMetadata(response, options.oauth(), publicBase);
      return;
    }
    throw new McpTenantsError(ErrorCode.NOT_FOUND, `no route for GET ${path}; MCP is at /mcp`);
  };

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      const failure = toMcpTenantsError(error);
      if (failure.code === ErrorCode.INTERNAL) {
        log.error('request failed', { error: failure.message });
      } else if (REFUSALS_LOGGED.has(failure.httpStatus)) {
        const data = failure.data ?? {};
        refusals.warn('refused a request', {
          status: failure.httpStatus,
          code: failure.code,
          reason: typeof data.reason === 'string' ? data.reason : undefined,
          tenant: typeof data.tenant === 'string' ? data.tenant : undefined,
          method: request.method,
          path: (request.url ?? '/').split('?', 1)[0],
          remote: request.socket.remoteAddress,
        });
      }
      sendError(response, failure, {
        resourceMetadataUrl: `${publicBase}${RESOURCE_METADATA_PATH}/mcp`,
        scope: options.oauth().scopes_supported?.join(' '),
      });
    });
  };
  const httpServer = createServer(onRequest);
  httpServer.on('clientError', answerClientError);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new McpTenantsError(
          ErrorCode.USAGE,
          error.code === 'EADDRINUSE'
            ? `port ${config.port} on ${config.host} is already in use; pick another with --port`
            : `cannot listen on ${config.host}:${config.port}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  policy = originPolicy(config, port);
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  baseUrl = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl}:${port}`;
  publicBase = config.public_url ?? baseUrl;
  const peerServer = options.peerListenHost === undefined ? undefined : createServer(onRequest);
  let peerUrl: string | undefined;
  if (peerServer && options.peerListenHost !== undefined) {
    const host = options.peerListenHost;
    // exclusive: a worker's own port, not one shared through the primary.
    await new Promise<void>((resolve, reject) => {
      peerServer.once('error', reject);
      peerServer.listen({ host, port: 0, exclusive: true }, () => resolve());
    });
    peerServer.on('clientError', answerClientError);
    const peerHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
    peerUrl = `http://${peerHost}:${(peerServer.address() as AddressInfo).port}`;
  }

  let closing: Promise<void> | undefined;
  const closed = new Promise<void>((resolve) => httpServer.once('close', () => resolve()));
  const stopAccepting = (): void => {
    if (httpServer.listening) httpServer.close();
    if (peerServer?.listening) peerServer.close();
  };
  return {
    url: `${baseUrl}/mcp`,
    port,
    peerUrl,
    sessions,
    stopAccepting,
    close() {
      closing ??= new Promise<void>((resolve) => {
        void closed.then(resolve);
        stopAccepting();
        sessions.closeAll();
        httpServer.closeIdleConnections();
        peerServer?.closeIdleConnections();
        // Requests still open after a moment are cut; their children are stopping anyway.
        setTimeout(() => {
          httpServer.closeAllConnections();
          peerServer?.closeAllConnections();
        }, 1_000).unref();
      });
      return closing;
    },
  };
}
