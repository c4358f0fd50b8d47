import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

export interface InFlight {
  /** Resolves once every request read so far is answered (or cancelled), or after `maxMs`. */
  settled(maxMs: number): Promise<void>;
}

/**
 * Counts the requests the transport delivered and not yet answered. A store
 * that answers asynchronously (PostgreSQL) can still be working when stdin
 * ends; the server waits for those answers before it closes the transport.
 */
export function trackInFlight(transport: Transport): InFlight {
  const open = new Set<string | number>();
  let wake: (() => void) | undefined;
  const receive = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if ('method' in message && 'id' in message) open.add(message.id);
    // A cancelled request gets no answer.
    if ('method' in message && message.method === 'notifications/cancelled') {
      const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof id === 'string' || typeof id === 'number') forget(id);
    }
    receive?.(message, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (!('method' in message) && 'id' in message && message.id !== undefined) forget(message.id);
    return send(message, options);
  };
  function forget(id: string | number): void {
    open.delete(id);
    if (open.size === 0) wake?.();
  }
  return {
    settled(maxMs) {
      if (open.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, maxMs);
        timer.unref();
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    },
  };
}
