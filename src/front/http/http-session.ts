import type { ServerResponse } from 'node:http';
import type { JsonObject, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from '../../relay/jsonrpc.js';
import type { Caller } from '../../relay/pipeline.js';
import type { RelaySession, TenantRelay } from '../../relay/tenant-relay.js';
import { ResponseChannel } from './response-channel.js';
import { SseStream } from './sse.js';

/** Messages kept for a session whose GET stream is not open. */
const MAX_BACKLOG = 256;

/** One Streamable HTTP session, bound to the tenant and user that opened it. */
export class HttpSession implements RelaySession {
  lastActivity = Date.now();
  private readonly posts = new Map<JsonRpcId, ResponseChannel>();
  private standalone: SseStream | undefined;
  private readonly backlog: JsonRpcMessage[] = [];
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly tenantId: string,
    readonly caller: Caller,
    readonly protocolVersion: string,
    readonly capabilities: JsonObject | undefined,
    readonly relay: TenantRelay,
    /** Gives the relay back: stops the child of an `isolation: session` tenant. */
    private readonly release: () => void = () => {},
  ) {}

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
    const post = new ResponseChannel(response, acceptsSse, this.headers);
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
    if (this.backlog.length >= MAX_BACKLOG) this.backlog.shift();
    this.backlog.push(message);
    return true;
  }

  /** The GET stream for messages not tied to a request; one per session. */
  openStandalone(response: ServerResponse): boolean {
    if (this.standalone?.isOpen) return false;
    this.standalone = new SseStream(response, this.headers);
    for (const message of this.backlog.splice(0)) this.standalone.send(message);
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = setInterval(() => this.standalone?.keepAlive(), 25_000);
    this.keepAliveTimer.unref();
    response.once('close', () => clearInterval(this.keepAliveTimer));
    return true;
  }

  close(): void {
    clearInterval(this.keepAliveTimer);
    this.standalone?.end();
    this.relay.detach(this);
    this.release();
  }
}
