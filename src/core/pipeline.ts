import type { TenantConfig } from './config.js';
import type {
  JsonObject,
  JsonRpcId,
  JsonRpcMessage,
  JsonRpcRequest,
  JsonRpcResponse,
} from './jsonrpc.js';

/** Who sent a request, as proven by the session's token. Never the token itself. */
export interface Caller {
  readonly userId: string;
  /** The token's permissions (`tools:<glob>`, `resources:<glob>`, `prompts:<glob>`, `admin`). */
  readonly permissions: readonly string[];
  readonly isAdmin: boolean;
  readonly jti?: string | undefined;
}

/** What a front gives the relay for each of its sessions. */
export interface RelaySession {
  readonly id: string;
  /** The verified user behind the session; policy and quotas read it. */
  readonly caller: Caller;
  /** The client's capabilities from its `initialize` (sampling, roots, ...). */
  readonly capabilities: JsonObject | undefined;
  /**
   * True for a stateless (2026-07-28) client: it gets logs only for requests
   * that ask for a level, and takes `input_required` results itself. Unset:
   * a session client (logs from `info` up until it sets a level; the relay
   * fulfils a child's `input_required` with real requests to it).
   */
  readonly stateless?: boolean;
  /**
   * Messages for this session that are not the direct answer to a forwarded
   * request: notifications, and server-to-client requests. `relatedRequestId`
   * names the session's own request they belong to, when there is one.
   * Returns false when the session had no way to take it.
   */
  deliver(message: JsonRpcMessage, relatedRequestId: JsonRpcId | undefined): boolean;
}

/** One client request on its way to a tenant's child. */
export interface ForwardContext {
  readonly tenant: TenantConfig;
  readonly session: RelaySession;
  readonly request: JsonRpcRequest;
  /** `performance.now()` when the relay took the request. */
  readonly startedAt: number;
  /**
   * Set when the client cancels the request or its session closes before
   * the child has it, so a stage that waits (a queue) stops waiting.
   */
  readonly cancellation: Cancellation;
}

/**
 * A request's cancellation, one per request: a plain flag and one callback,
 * because an AbortController costs several microseconds to create and only
 * a request that waits ever listens.
 */
export class Cancellation {
  private listener: (() => void) | undefined;
  private done = false;

  get cancelled(): boolean {
    return this.done;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  /** Calls `listener` on cancellation (one at a time); the result removes it. */
  onCancel(listener: () => void): () => void {
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = undefined;
    };
  }
}

/** Hands the (possibly rewritten) request to the next stage, and finally to the child. */
export type Next = (request: JsonRpcRequest) => Promise<JsonRpcResponse>;

/**
 * A stage of the request path (policy, quota, telemetry, ...): it may answer
 * by itself (a refusal, and then the child never sees the request), rewrite
 * the request before passing it on, or rewrite the response on the way back.
 */
export type RequestStage = (context: ForwardContext, next: Next) => Promise<JsonRpcResponse>;

/** Runs `stages` in order around `last`; the first stage sees the request first. */
export function runStages(
  stages: readonly RequestStage[],
  context: ForwardContext,
  last: Next,
): Promise<JsonRpcResponse> {
  const step = (index: number, request: JsonRpcRequest): Promise<JsonRpcResponse> => {
    const stage = stages[index];
    if (!stage) return last(request);
    return stage({ ...context, request }, (next) => step(index + 1, next));
  };
  return step(0, context.request);
}
