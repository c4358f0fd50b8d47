import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage, JsonRpcResponse } from '../../core/jsonrpc.js';
import { errorHeaders, sendJson } from './respond.js';
import { SseStream } from './sse.js';
import type { UnreadBudget } from './unread-budget.js';

/**
 * A POST whose response is still owed. It answers with plain JSON unless
 * something related (progress, a log line) arrives first and the client
 * accepts event streams; then it turns into an SSE stream on the spot.
 */
export class ResponseChannel {
  private stream: SseStream | undefined;

  constructor(
    private readonly response: ServerResponse,
    private readonly acceptsSse: boolean,
    private readonly headers: Record<string, string>,
    /** The front's budget of unread bytes, which the stream (if any) counts in. */
    private readonly unread?: UnreadBudget,
  ) {}

  push(message: JsonRpcMessage): boolean {
    if (!this.acceptsSse || this.response.writableEnded || this.response.destroyed) return false;
    this.stream ??= new SseStream(this.response, this.headers, 'drop', this.unread);
    return this.stream.send(message);
  }

  /** True once the client went away before the answer (a cancellation in 2026-07-28). */
  get abandoned(): boolean {
    return this.response.destroyed && !this.response.writableEnded;
  }

  finish(message: JsonRpcResponse, status = 200): void {
    if (this.stream) {
      this.stream.send(message, true);
      this.stream.end();
      return;
    }
    if (this.response.writableEnded || this.response.destroyed) return;
    if (!('error' in message)) {
      sendJson(this.response, status, message, this.headers);
      return;
    }
    // A refusal a stage answered: a quota is also an HTTP 429 with Retry-After,
    // a missing permission stays a 200 (clients show the JSON-RPC error) with
    // its WWW-Authenticate, as RFC 9110 §11.6.1 allows on any response.
    const data = message.error.data as Record<string, unknown> | undefined;
    const code = typeof data?.code === 'string' ? data.code : undefined;
    const headers = errorHeaders({ code, message: message.error.message, data });
    sendJson(this.response, 'retry-after' in headers ? 429 : status, message, {
      ...this.headers,
      ...headers,
    });
  }
}
