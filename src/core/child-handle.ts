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
  /** What the child said of itself in the handshake: capabilities, serverInfo, instructions. */
  readonly initializeResult: JsonObject;
  /**
   * True for a child that speaks the stateless revision (2026-07-28): every
   * request to it carries its protocol version and client capabilities in
   * `_meta`, and the session revisions' own methods are not sent to it.
   */
  readonly speaksStateless: boolean;
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
  /** Every message a child sends once initialized, with the child that sent it. */
  message(message: JsonRpcMessage, from: ChildChannel): void;
  /** A child is ready (first start or restart). */
  ready(): void;
  /**
   * A child is gone; `crashed` is false when it was stopped on purpose. A
   * child asked to stop may exit after its successor started, so the relay
   * fails only what it had sent to `channel`.
   */
  exited(reason: string, crashed: boolean, channel: ChildChannel): void;
  /** True when no request is waiting on the child, so stopping it loses nothing. */
  quiet(): boolean;
}
