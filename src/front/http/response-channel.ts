import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage, JsonRpcResponse } from '../../relay/jsonrpc.js';
import { sendJson } from './respond.js';
import { SseStream } from './sse.js';

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
  ) {}

  push(message: JsonRpcMessage): boolean {
    if (!this.acceptsSse || this.response.writableEnded || this.response.destroyed) return false;
    this.stream ??= new SseStream(this.response, this.headers);
    return this.stream.send(message);
  }

  /** True once the client went away before the answer (a cancellation in 2026-07-28). */
  get abandoned(): boolean {
    return this.response.destroyed && !this.response.writableEnded;
  }

  finish(message: JsonRpcResponse, status = 200): void {
    if (this.stream) {
      this.stream.send(message);
      this.stream.end();
      return;
    }
    if (this.response.writableEnded || this.response.destroyed) return;
    sendJson(this.response, status, message, this.headers);
  }
}
