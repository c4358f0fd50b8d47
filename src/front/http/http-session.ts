import type { ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import type { McpTenantsError } from '../../core/errors.js';
import { errorFrom } from '../../core/errors.js';
import type { JsonObject, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from '../../core/jsonrpc.js';
import type { RelaySession } from '../../core/pipeline.js';
import type { TenantRelay } from '../../relay/tenant-relay.js';
import { Backlog } from './backlog.js';
import { ResponseChannel } from './response-channel.js';
import { SseStream } from './sse.js';
import type { UnreadBudget } from './unread-budget.js';

/**
 * One Streamable HTTP session, bound to the token that opened it
 * (`caller.tokenId`): every request on it must carry that same token, so
 * its caller is always the request's own.
 */
export class HttpSession implements RelaySession {
  lastActivity = Date.now();
  private readonly posts = new Map<JsonRpcId, ResponseChannel>();
  private standalone: SseStream | undefined;
  private readonly backlog: Backlog;
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly tenantId: string,
    readonly caller: TenantContext,
    readonly protocolVersion: string,
    readonly capabilities: JsonObject | undefined,
    readonly relay: TenantRelay,
    /** Unread bytes of all of the front's streams and backlogs together. */
    private readonly unread: UnreadBudget,
    /** Called once on close: gives the relay back (stopping an `isolation: session` child), unbinds the token. */
    private readonly release: () => void = () => {},
  ) {
    this.backlog = new Backlog(unread);
  }

  get userId(): string {
    return this.caller.userId;
  }

  get headers(): Record<string, string> {
    return { 'mcp-session-id': this.id };
  }

  /** Forwards one request and answers the POST that carried it. */
  async handleRequest(
    response: ServerResponse,
    request: JsonRpcRequest,
    acceptsSse: boolean,
  ): Promise<void> {
    const post = new ResponseChannel(response, acceptsSse, this.headers, this.unread);
    this.posts.set(request.id, post);
    try {
      const answer = await this.relay.forward(this, request);
      post.finish(answer);
    } finally {
      this.posts.delete(request.id);
    }
  }

  deliver(message: JsonRpcMessage, relatedRequestId: JsonRpcId | undefined): boolean {
    if (relatedRequestId !== undefined && this.posts.get(relatedRequestId)?.push(message))
      return true;
    // Unrelated, or the request's client does not take streams: the GET stream.
    if (this.standalone?.send(message)) return true;
    // Not open (yet): clients open it right after initialize, so keep a few.
    return this.backlog.push(message);
  }

  /** The GET stream for messages not tied to a request; one per session. */
  openStandalone(response: ServerResponse): boolean {
    if (this.standalone?.isOpen) return false;
    this.standalone = new SseStream(response, this.headers, 'close', this.unread);
    for (const message of this.backlog.take()) this.standalone.send(message);
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = setInterval(() => this.standalone?.keepAlive(), 25_000);
    this.keepAliveTimer.unref();
    response.once('close', () => clearInterval(this.keepAliveTimer));
    return true;
  }

  /**
   * The token behind the session is no longer good (revoked, expired): the
   * requests in flight are answered with `error`, the streams end, and the
   * caller then closes the session.
   */
  refuseInFlight(error: McpTenantsError): void {
    for (const [id, post] of this.posts) post.finish(errorFrom(id, error));
  }

  close(): void {
    clearInterval(this.keepAliveTimer);
    this.standalone?.end();
    this.backlog.clear();
    this.relay.detach(this);
    this.release();
  }
}
