import type { JsonRpcRequest, JsonRpcResponse } from '../core/jsonrpc.js';
import type { RequestTrace } from '../core/pipeline.js';

/** Where and how one client request came in, as its span records it. */
export interface RequestStart {
  request: JsonRpcRequest;
  transport: 'http' | 'stdio';
  /** `performance.now()` when the request arrived (HTTP: before its token was checked). */
  arrivedAt: number;
  /** `performance.now()` when the token check that began on arrival ended (HTTP). */
  authenticatedAt?: number | undefined;
  tenant: string | null;
  user: string;
  /** The MCP session the request names (`Mcp-Session-Id`). */
  sessionId?: string | undefined;
  /** The session's protocol version; the request's own is used when unset. */
  protocolVersion?: string | undefined;
  clientAddress?: string | undefined;
  clientPort?: number | undefined;
}

/** An HTTP request refused before its body was read (its token was refused). */
export interface RefusedStart {
  arrivedAt: number;
  /** What the request said it was, from its `Mcp-Method` header. */
  method?: string | undefined;
  clientAddress?: string | undefined;
  clientPort?: number | undefined;
}

/** The front's side of a request's trace: it ends the request span. */
export interface TracedRequest extends RequestTrace {
  /** The session an `initialize` opened. */
  sessionOpened(id: string): void;
  /** Ends the request span with the answer the client got (telemetry's, when not given). Idempotent. */
  end(answer?: JsonRpcResponse): void;
  /** Ends it with a failure that no answer carried (a refusal the front threw). */
  fail(error: unknown): void;
}

/**
 * Traces of client requests (OpenTelemetry). Off, it is `NO_TRACING`, and
 * the fronts skip it with one check per request; on, the OpenTelemetry SDK
 * is loaded (otel-tracer.ts) and spans are exported in batches over OTLP.
 */
export interface Tracing {
  readonly on: boolean;
  /** Opens the span of one request and attaches it to the request for the stages and the relay. */
  request(start: RequestStart): TracedRequest;
  /** A span for a request refused before its message was read. */
  refused(start: RefusedStart, error: unknown): void;
  /** Exports what is pending and stops, within a bounded time; never rejects. */
  close(): Promise<void>;
}

const NO_TRACE: TracedRequest = {
  step: () => () => {},
  toChild: (meta) => ({ meta: meta ?? {}, end: () => {} }),
  answered: () => {},
  sessionOpened: () => {},
  end: () => {},
  fail: () => {},
};

/** Tracing off: nothing is recorded, and nothing of OpenTelemetry is loaded. */
export const NO_TRACING: Tracing = {
  on: false,
  request: () => NO_TRACE,
  refused: () => {},
  close: () => Promise.resolve(),
};
