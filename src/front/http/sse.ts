import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage } from '../../relay/jsonrpc.js';

/**
 * Bytes a client may leave unread on one stream. Past it, the client is not
 * reading: holding more for it would let one stalled client (or a child
 * flooding notifications) grow the supervisor's memory without bound.
 */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

/**
 * What a stream does for a client that stopped reading: `close` ends it (the
 * client reconnects a GET stream; what it missed waits in a bounded backlog),
 * `drop` refuses further messages but still takes the final answer.
 */
export type WhenStalled = 'close' | 'drop';

/** A server-sent-events stream carrying JSON-RPC messages. */
export class SseStream {
  private open = true;

  constructor(
    private readonly response: ServerResponse,
    headers: Record<string, string>,
    private readonly whenStalled: WhenStalled = 'close',
  ) {
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      ...headers,
    });
    response.flushHeaders();
    response.once('close', () => {
      this.open = false;
    });
  }

  get isOpen(): boolean {
    return this.open && !this.response.writableEnded;
  }

  /** False when the message was not taken: closed, or the client is not reading. */
  send(message: JsonRpcMessage, final = false): boolean {
    if (!this.isOpen) return false;
    if (!final && this.response.writableLength > MAX_UNREAD_BYTES) {
      if (this.whenStalled === 'close') {
        this.open = false;
        this.response.destroy();
      }
      return false;
    }
    this.response.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    return true;
  }

  /** A comment line keeps idle proxies from closing the stream. */
  keepAlive(): void {
    if (this.isOpen) this.response.write(': keep-alive\n\n');
  }

  end(): void {
    if (this.isOpen) this.response.end();
    this.open = false;
  }
}
