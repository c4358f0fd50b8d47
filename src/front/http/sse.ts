import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage } from '../../core/jsonrpc.js';
import type { UnreadBudget, UnreadShare } from './unread-budget.js';

/**
 * Bytes a client may leave unread on one stream. Past it, the client is not
 * reading: holding more for it would let one stalled client (or a child
 * flooding notifications) grow the supervisor's memory without bound.
 * All streams together are held to `server.max_unread_bytes` as well.
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
  /** What this stream holds unread, in the front's budget; counted at each write and drain. */
  private readonly unread: UnreadShare | undefined;
  private awaitingDrain = false;

  constructor(
    private readonly response: ServerResponse,
    headers: Record<string, string>,
    private readonly whenStalled: WhenStalled = 'close',
    budget?: UnreadBudget,
  ) {
    this.unread = budget?.share();
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      ...headers,
    });
    response.flushHeaders();
    response.once('close', () => {
      this.open = false;
      // A closed response lets go of its buffer: so does the budget.
      this.unread?.release();
    });
  }

  get isOpen(): boolean {
    return this.open && !this.response.writableEnded;
  }

  /** False when the message was not taken: closed, or the client is not reading. */
  send(message: JsonRpcMessage, final = false): boolean {
    if (!this.isOpen) return false;
    const behind = this.response.writableLength;
    if (!final && behind > MAX_UNREAD_BYTES) return this.stalled();
    const frame = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    // A reader already behind may not take the total past the budget.
    if (!final && behind > 0 && this.unread?.fits(behind + Buffer.byteLength(frame)) === false) {
      return this.stalled();
    }
    const flushed = this.response.write(frame);
    this.recount(flushed);
    // Written but left unread past the budget: this reader is the one that pushed it over.
    if (!final && this.whenStalled === 'close' && this.unread?.over) return this.stalled();
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

  private stalled(): false {
    if (this.whenStalled === 'close') {
      this.open = false;
      // Destroying (not ending) drops the buffered bytes at once.
      this.response.destroy();
      this.unread?.release();
    }
    return false;
  }

  /**
   * What is unread is known only when written and when drained; in between
   * the count may be high (the client read some), never low.
   */
  private recount(flushed: boolean): void {
    if (!this.unread) return;
    this.unread.hold(this.response.writableLength);
    if (flushed || this.awaitingDrain) return;
    this.awaitingDrain = true;
    this.response.once('drain', () => {
      this.awaitingDrain = false;
      if (this.open) this.unread?.hold(this.response.writableLength);
    });
  }
}
