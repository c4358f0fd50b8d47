import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage } from '../../relay/jsonrpc.js';

/** A server-sent-events stream carrying JSON-RPC messages. */
export class SseStream {
  private open = true;

  constructor(
    private readonly response: ServerResponse,
    headers: Record<string, string>,
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

  send(message: JsonRpcMessage): boolean {
    if (!this.isOpen) return false;
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
