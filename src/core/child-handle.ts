import type { JsonObject, JsonRpcMessage } from './jsonrpc.js';

/**
 * The contract between a tenant's relay and the child process behind it,
 * so that neither imports the other: process/ implements the handle
 * (ChildSlot), relay/ routes over it, and registry/ plugs one into the other.
 */

/** A running, initialized child: where the relay writes. */
export interface ChildChannel {
  send(message: JsonRpcMessage): void;
  /** True while the child is not reading its stdin: new requests are refused, not queued. */
  readonly congested: boolean;
  /** The child's answer to the supervisor's one `initialize`. */
  readonly initializeResult: JsonObject;
}

/** One tenant's child as the relay sees it: started on demand, maybe not running now. */
export interface ChildHandle {
  /** A ready child: the running one, the one starting, or a new one. Rejects with an McpTenantsError. */
  acquire(): Promise<ChildChannel>;
  /** The running child, if there is one right now. */
  readonly current: ChildChannel | undefined;
}

/** What the child's owner tells the relay; every method must return quickly and not throw. */
export interface ChildListener {
  /** Every message the child sends once initialized. */
  message(message: JsonRpcMessage): void;
  /** A child is ready (first start or restart). */
  ready(): void;
  /** The child is gone; `crashed` is false when it was stopped on purpose. */
  exited(reason: string, crashed: boolean): void;
  /** True when no request is waiting on the child, so stopping it loses nothing. */
  quiet(): boolean;
}
