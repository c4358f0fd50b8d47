import type { JsonRpcMessage } from '../../core/jsonrpc.js';
import { wireBytes } from '../../core/wire-bytes.js';
import { MAX_UNREAD_BYTES } from './sse.js';
import type { UnreadBudget, UnreadShare } from './unread-budget.js';

/** Messages kept for a session whose GET stream is not open. */
const MAX_BACKLOG = 256;

interface Kept {
  message: JsonRpcMessage;
  bytes: number;
}

/**
 * What a session's GET stream missed while it was not open (clients open
 * it right after initialize): at most 256 messages and as many bytes as one
 * stream may leave unread, the oldest dropped first, and counted in the
 * front's unread budget like any stream.
 */
export class Backlog {
  private readonly kept: Kept[] = [];
  private readonly unread: UnreadShare;

  constructor(budget: UnreadBudget) {
    this.unread = budget.share();
  }

  /** Keeps one more message; false when even an empty backlog could not hold it. */
  push(message: JsonRpcMessage): boolean {
    // Known from where the message entered (serialising each one again would
    // make a flood at a stalled session cost as much garbage as the flood).
    const bytes = wireBytes(message);
    const fits = () =>
      this.kept.length < MAX_BACKLOG &&
      this.unread.bytes + bytes <= MAX_UNREAD_BYTES &&
      this.unread.fits(this.unread.bytes + bytes);
    while (this.kept.length > 0 && !fits()) this.dropOldest();
    if (!fits()) return false;
    this.kept.push({ message, bytes });
    this.unread.hold(this.unread.bytes + bytes);
    return true;
  }

  /** Everything kept, oldest first; the backlog is empty afterwards. */
  take(): JsonRpcMessage[] {
    const messages = this.kept.splice(0).map((entry) => entry.message);
    this.unread.release();
    return messages;
  }

  clear(): void {
    this.kept.length = 0;
    this.unread.release();
  }

  private dropOldest(): void {
    const oldest = this.kept.shift();
    if (oldest) this.unread.hold(this.unread.bytes - oldest.bytes);
  }
}
