import type { TenantConfig } from './config.js';
import { errorFrom } from './errors.js';
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
  /** The request's trace when tracing is on (see RequestTrace); unset otherwise. */
  readonly trace?: RequestTrace | undefined;
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

/** The steps of a traced request that get a span of their own, in the order they run. */
export type TracedStep = 'auth' | 'policy' | 'quota' | 'relay' | 'child';

/** Ends a step's span: with the answer when the step itself refused or failed the request. */
export type EndStep = (answer?: JsonRpcResponse) => void;

/** The span of one write of a request to a tenant's child. */
export interface ChildSpan {
  /** The `_meta` the child gets: a copy whose `traceparent` (and `tracestate`) name this span. */
  readonly meta: JsonObject;
  /** The child answered (or the relay gave up on it). */
  end(answer?: JsonRpcResponse): void;
}

/**
 * What the request path tells the trace of one client request. The front
 * that took the request makes it (telemetry/tracing.ts) only when tracing is
 * on, so an untraced request costs one check where a span would start.
 */
export interface RequestTrace {
  /** A step starts now; calling the result ends its span. Ending twice is harmless. */
  step(name: TracedStep): EndStep;
  /**
   * The request is being written to the tenant's child: the relay's span
   * ends (when open) and the child's begins.
   */
  toChild(meta: JsonObject | undefined): ChildSpan;
  /** The answer on its way back to the client, and what telemetry made of it. */
  answered(response: JsonRpcResponse, outcome: string): void;
}

/**
 * Traces travel with their request under a symbol: JSON never writes one,
 * and the spread copies made between the front and the relay (a stateless
 * request's rounds) keep it, so no layer in between has to hand it on.
 */
const TRACE = Symbol('mcp-tenants.trace');

type Traced = JsonRpcRequest & { [TRACE]?: RequestTrace };

/** Makes `trace` the trace of `request` (the front that parsed it does this). */
export function attachTrace(request: JsonRpcRequest, trace: RequestTrace): void {
  (request as Traced)[TRACE] = trace;
}

/** The trace a front attached to `request`, if any. */
export function attachedTrace(request: JsonRpcRequest): RequestTrace | undefined {
  return (request as Traced)[TRACE];
}

/**
 * `stage` with a span of its own on a traced request: from its start until
 * it passes the request on, or answers (refuses) it itself. Untraced
 * requests go straight to `stage`.
 */
export function tracedStage(name: TracedStep, stage: RequestStage): RequestStage {
  return (context, next) => {
    const trace = context.trace;
    if (!trace) return stage(context, next);
    const end = trace.step(name);
    let passed = false;
    const onward: Next = (request) => {
      passed = true;
      end();
      return next(request);
    };
    let answered: Promise<JsonRpcResponse>;
    try {
      answered = stage(context, onward);
    } catch (error) {
      // A stage that throws before it returns a promise refuses all the same.
      answered = Promise.reject(error);
    }
    return answered.then(
      (response) => {
        if (!passed) end(response);
        return response;
      },
      (error: unknown) => {
        if (!passed) end(errorFrom(context.request.id, error));
        throw error;
      },
    );
  };
}
