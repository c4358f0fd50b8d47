import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage, JsonRpcResponse } from '../../relay/jsonrpc.js';
import { bearerChallenge, sendJson } from './respond.js';
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
    this.stream ??= new SseStream(this.response, this.headers, 'drop');
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
    const retryAfter = retryAfterSeconds(message);
    if (retryAfter !== undefined) {
      sendJson(this.response, 429, message, { ...this.headers, 'retry-after': String(retryAfter) });
      return;
    }
    const challenge = permissionChallenge(message);
    const headers = challenge ? { ...this.headers, 'www-authenticate': challenge } : this.headers;
    sendJson(this.response, status, message, headers);
  }
}

/**
 * A permission refusal stays a JSON-RPC error in a 200 (clients show its
 * message), and also says why in `WWW-Authenticate` with the permission the
 * call needs, as RFC 9110 §11.6.1 allows on any response.
 */
function permissionChallenge(message: JsonRpcResponse): string | undefined {
  if (!('error' in message)) return undefined;
  const data = message.error.data as { code?: unknown; required_permission?: unknown } | undefined;
  if (data?.code !== 'FORBIDDEN' || typeof data.required_permission !== 'string') return undefined;
  return bearerChallenge({
    error: 'insufficient_scope',
    scope: data.required_permission,
    description: message.error.message,
  });
}

/**
 * A quota refusal says when to retry (`error.data.retry_after_seconds`).
 * Answered before any stream started, it is also an HTTP 429 with
 * `Retry-After`, the JSON-RPC error still in the body for the client to show.
 */
function retryAfterSeconds(message: JsonRpcResponse): number | undefined {
  if (!('error' in message)) return undefined;
  const data = message.error.data as { code?: unknown; retry_after_seconds?: unknown } | undefined;
  const seconds = data?.retry_after_seconds;
  return data?.code === 'QUOTA_EXCEEDED' && typeof seconds === 'number' ? seconds : undefined;
}
