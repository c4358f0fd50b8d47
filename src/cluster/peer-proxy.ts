import {
  Agent,
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

/** Headers of one hop only (RFC 9110, section 7.6.1): never passed on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Waiting this long for a peer to accept the connection means it is down. */
const CONNECT_TIMEOUT_MS = 3_000;
const IDLE_SOCKET_MS = 4_000;

/**
 * Relays one HTTP request to the node that serves it and its answer back,
 * byte for byte and as it comes: an event stream stays a stream, and a
 * client that goes away ends the peer's request too (which cancels it there).
 * Connections to peers are kept alive and reused.
 */
export class PeerProxy {
  /** Exchanges under way, by the node they went to. */
  private readonly inFlight = new Map<string, Set<ClientRequest>>();
  // An idle kept-alive socket is closed before the peer's server closes it
  // (Node's keepAliveTimeout is 5 s), so a request is never written onto one
  // the peer is closing.
  private readonly http = new Agent({
    keepAlive: true,
    maxFreeSockets: 64,
    timeout: IDLE_SOCKET_MS,
  });
  private readonly https = new HttpsAgent({
    keepAlive: true,
    maxFreeSockets: 64,
    timeout: IDLE_SOCKET_MS,
  });

  forward(
    request: IncomingMessage,
    response: ServerResponse,
    peer: { node_id: string; url: string },
    extraHeaders: Record<string, string>,
  ): Promise<void> {
    const target = new URL(request.url ?? '/', peer.url);
    const secure = target.protocol === 'https:';
    const headers = passOn(request.headers);
    // The client's Host, not the peer's address: the owner checks it as the first node did.
    Object.assign(headers, extraHeaders, { host: request.headers.host ?? target.host });
    const forwardedFor = request.headers['x-forwarded-for'];
    const client = request.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${client}` : client;
    return new Promise<void>((resolve, reject) => {
      const upstream = (secure ? httpsRequest : httpRequest)(target, {
        method: request.method,
        headers,
        agent: secure ? this.https : this.http,
        timeout: CONNECT_TIMEOUT_MS,
      });
      const pending = this.inFlight.get(peer.node_id) ?? new Set<ClientRequest>();
      pending.add(upstream);
      this.inFlight.set(peer.node_id, pending);
      upstream.once('close', () => {
        pending.delete(upstream);
        if (pending.size === 0 && this.inFlight.get(peer.node_id) === pending) {
          this.inFlight.delete(peer.node_id);
        }
      });
      let answered = false;
      const unreachable = (error: Error): void => {
        if (answered) {
          response.destroy(error);
          resolve();
          return;
        }
        reject(
          new McpTenantsError(
            ErrorCode.NODE_UNAVAILABLE,
            `node ${peer.node_id}, which serves this request, did not answer (${error.message}); retry in a moment: another node takes over its tenants`,
            { cause: error },
          ),
        );
      };
      upstream.once('socket', (socket) => {
        // The connect timeout only: a stream may then stay quiet for as long as it likes.
        // A reused socket is connected already: no listener, which would pile up on it.
        if (socket.connecting) socket.once('connect', () => upstream.setTimeout(0));
        else upstream.setTimeout(0);
      });
      upstream.once('timeout', () => upstream.destroy(new Error('connection timed out')));
      upstream.once('error', unreachable);
      upstream.once('response', (answer) => {
        answered = true;
        response.writeHead(answer.statusCode ?? 502, passOn(answer.headers));
        // An event stream's headers go at once (its first event may be long coming);
        // a JSON answer's go with its body, in one write.
        if (String(answer.headers['content-type']).startsWith('text/event-stream')) {
          response.flushHeaders();
        }
        answer.pipe(response);
        answer.once('end', () => resolve());
        answer.once('error', (error) => {
          response.destroy(error);
          resolve();
        });
      });
      // The client gone before the answer ended: end the peer's side too.
      response.once('close', () => {
        if (!response.writableFinished) upstream.destroy();
        resolve();
      });
      request.pipe(upstream);
    });
  }

  /**
   * Ends what is in flight to a node that stopped heartbeating (frozen, or
   * cut off): its clients get an answer now instead of waiting on a socket
   * nobody reads. An exchange not answered yet becomes NODE_UNAVAILABLE.
   */
  abandon(nodeId: string): void {
    const pending = this.inFlight.get(nodeId);
    if (!pending) return;
    this.inFlight.delete(nodeId);
    for (const upstream of pending)
      upstream.destroy(new Error(`node ${nodeId} stopped heartbeating`));
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function passOn(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}
