import type { Readable, Writable } from 'node:stream';
import type { JsonRpcMessage } from '../../core/jsonrpc.js';
import type { Logger } from '../../core/logger.js';

/**
 * Bytes stdout may hold for a host that is not reading. Past it, the child's
 * notifications are dropped (counted), everything else still goes out, and stdin is
 * not read until stdout drains: a stalled host slows itself, not the process.
 */
export const MAX_UNREAD_STDOUT_BYTES = 4 * 1024 * 1024;

/**
 * Writes JSON-RPC lines to a stdio host with backpressure: a write that
 * fills stdout pauses `input` until it drains, so no new work arrives while
 * the host is behind, and notifications past MAX_UNREAD_STDOUT_BYTES are
 * dropped rather than buffered. Answers and the child's requests are never
 * dropped: each is owed or awaited, and requests stop arriving while stdout
 * is full.
 */
export function createStdoutWriter(
  output: Writable,
  input: Readable,
  log: Logger,
): (message: JsonRpcMessage) => void {
  let dropped = 0;
  let paused = false;
  const pauseInput = (): void => {
    if (paused) return;
    paused = true;
    input.pause();
    output.once('drain', () => {
      paused = false;
      if (dropped > 0) {
        log.warn('the host reads stdout again', { dropped_notifications: dropped });
        dropped = 0;
      }
      input.resume();
    });
  };
  return (message) => {
    if (output.writableEnded || output.destroyed) return;
    // Only notifications may go: an answer is owed to the host, and a
    // request from the child (sampling, elicitation) would leave it waiting.
    const isNotification = 'method' in message && !('id' in message);
    if (isNotification && output.writableLength > MAX_UNREAD_STDOUT_BYTES) {
      if (dropped++ === 0) {
        log.warn('the host is not reading stdout; notifications are dropped until it does');
      }
      return;
    }
    if (!output.write(`${JSON.stringify(message)}\n`)) pauseInput();
  };
}
