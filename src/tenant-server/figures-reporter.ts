import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { CHILD_FIGURES_TYPE, type ChildFigures } from '../core/child-figures.js';
import type { TenantStore } from './store.js';

/** How often figures are sent, at most (only after tools ran). */
const REPORT_INTERVAL_MS = 1_000;
/** How long the last report may take on the way out. */
const LAST_REPORT_MS = 500;

export interface FiguresReporter {
  /** Sends what is left, then lets go of the channel. */
  close(): Promise<void>;
}

/**
 * When the supervisor gave this process an IPC channel, reports the built-in
 * server's own figures on it: tool calls, errors and time inside the tools
 * (measured at the transport, so every tool counts, a tenant's own included),
 * the database's size and rows. Without a channel it does nothing.
 */
export function reportFigures(store: TenantStore, transport: Transport): FiguresReporter {
  const channel = process.channel;
  const send = process.send?.bind(process);
  if (!channel || !send) return { close: async () => {} };
  // The channel must not keep this process alive: stdin's end is what stops it.
  channel.unref();
  let pending = { tool_calls: 0, tool_errors: 0, tool_ms: 0 };
  let dirty = false;
  const report = (done?: () => void): void => {
    if (!dirty || !process.connected) {
      done?.();
      return;
    }
    const tools = {
      ...pending,
      tool_ms: Math.round(pending.tool_ms * 1000) / 1000,
    };
    pending = { tool_calls: 0, tool_errors: 0, tool_ms: 0 };
    dirty = false;
    Promise.all([store.sizeBytes(), store.rowCount()])
      .then(([db_bytes, rows]) => {
        if (!process.connected) return done?.();
        const figures: ChildFigures = { type: CHILD_FIGURES_TYPE, ...tools, db_bytes, rows };
        send(figures, undefined, undefined, () => done?.());
      })
      .catch(() => {
        // The store cannot be measured now (unreachable): these tool figures
        // go with the next report rather than without database figures.
        pending.tool_calls += tools.tool_calls;
        pending.tool_errors += tools.tool_errors;
        pending.tool_ms += tools.tool_ms;
        dirty = true;
        done?.();
      });
  };
  const timer = setInterval(() => report(), REPORT_INTERVAL_MS);
  timer.unref();
  observeToolCalls(transport, (ms, isError) => {
    pending.tool_calls += 1;
    pending.tool_ms += ms;
    if (isError) pending.tool_errors += 1;
    dirty = true;
  });
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        const cap = setTimeout(resolve, LAST_REPORT_MS);
        cap.unref();
        report(() => {
          clearTimeout(cap);
          resolve();
        });
      }).then(() => {
        if (process.connected) process.disconnect();
      });
      return closing;
    },
  };
}

/** Times every `tools/call` from the request in to the response out. */
function observeToolCalls(
  transport: Transport,
  onCall: (ms: number, isError: boolean) => void,
): void {
  const started = new Map<string | number, number>();
  const receive = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if ('method' in message && message.method === 'tools/call' && 'id' in message) {
      started.set(message.id, performance.now());
    }
    receive?.(message, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = (message: JSONRPCMessage, options) => {
    const id = 'id' in message && !('method' in message) ? message.id : undefined;
    if (id !== undefined) {
      const start = started.get(id);
      if (start !== undefined) {
        started.delete(id);
        const isError =
          'error' in message || ('result' in message && message.result.isError === true);
        onCall(performance.now() - start, isError);
      }
    }
    return send(message, options);
  };
}
