import {
  type Attributes,
  type Context,
  defaultTextMapSetter,
  type HrTime,
  trace as otelTrace,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import {
  type ExportResult,
  ExportResultCode,
  millisToHrTime,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { BurstLimiter } from '../core/burst-limiter.js';
import { ErrorCode, errorFrom, toMcpTenantsError } from '../core/errors.js';
import { type JsonObject, type JsonRpcResponse, metaOf } from '../core/jsonrpc.js';
import type { Logger } from '../core/logger.js';
import { attachTrace, type ChildSpan, type EndStep, type TracedStep } from '../core/pipeline.js';
import {
  isStatelessVersion,
  isSupportedProtocolVersion,
  negotiateProtocolVersion,
  requestedVersion,
} from '../core/revisions.js';
import { PACKAGE_VERSION } from '../core/version.js';
import { batchSettings, checkExporterSettings, samplerFrom } from './otel-env.js';
import { classifyOutcome, targetOf } from './outcome.js';
import type { RefusedStart, RequestStart, TracedRequest, Tracing } from './tracing.js';

/** The longest attribute value a span keeps. */
const MAX_ATTRIBUTE_CHARS = 256;

/** Shutdown waits this long for the last spans to be exported, then lets them go. */
const CLOSE_MS = 2_000;
/** While exports keep failing, one warning per this interval says how many were lost. */
const EXPORT_WARNING_INTERVAL_MS = 60_000;
const MAX_STATUS_MESSAGE = 300;
const MAX_METHOD = 200;
/** What an `Mcp-Method` header must look like to name a refused request's span. */
const METHOD_NAME = /^[A-Za-z0-9_./-]{1,64}$/;

const AUTH_CODES: ReadonlySet<string> = new Set([ErrorCode.AUTH_MISSING, ErrorCode.AUTH_INVALID]);

/** Reads `traceparent` and `tracestate` from a request's `_meta` (strings only). */
const META_GETTER: TextMapGetter<JsonObject> = {
  get: (meta, key) => {
    const value = meta[key];
    return typeof value === 'string' ? value : undefined;
  },
  keys: (meta) => Object.keys(meta),
};

/** Sets up the SDK from the standard variables: OTLP over HTTP, batched. */
export function startOtelTracing(log: Logger, env: NodeJS.ProcessEnv): Tracing {
  const warn = (message: string): void => log.warn(message);
  checkExporterSettings(env, warn);
  // The exporter reads the endpoint, headers, timeout and compression from the environment.
  const exporter = new ReportingExporter(new OTLPTraceExporter(), log);
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({ 'service.name': 'mcp-tenants', 'service.version': PACKAGE_VERSION }),
    )
    // OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win over the defaults.
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    // Clients choose ids, versions and names: no attribute may carry more
    // than this, whatever they send (a batch is held in memory until sent).
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_CHARS, attributeCountLimit: 64 },
    sampler: samplerFrom(env, warn),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...batchSettings(env, warn) })],
  });
  log.info('exporting traces over OTLP/HTTP', { endpoint: endpointOrigin(env) });
  return new OtelTracing(provider, provider.getTracer('mcp-tenants', PACKAGE_VERSION), log);
}

/** Where traces go, without a path, query or credentials the URL may hold. */
function endpointOrigin(env: NodeJS.ProcessEnv): string | undefined {
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  try {
    return url === undefined ? undefined : new URL(url.trim()).origin;
  } catch {
    return undefined;
  }
}

class OtelTracing implements Tracing {
  readonly on = true;
  private readonly propagator = new W3CTraceContextPropagator();
  private closing: Promise<void> | undefined;
  /**
   * Refusals come before any token: a flood of them must not fill the export
   * queue (and drop every tenant's spans), so only so many a second get one.
   */
  private readonly refusals = new BurstLimiter(50, 1_000);

  constructor(
    private readonly provider: TracerProvider,
    private readonly tracer: Tracer,
    private readonly log: Logger,
  ) {}

  request(start: RequestStart): TracedRequest {
    const traced = new OtelRequestTrace(this.tracer, this.propagator, start);
    attachTrace(start.request, traced);
    return traced;
  }

  refused(start: RefusedStart, error: unknown): void {
    if (this.refusals.admit(Date.now()) === undefined) return;
    const failure = toMcpTenantsError(error);
    const method =
      start.method !== undefined && METHOD_NAME.test(start.method) ? start.method : undefined;
    const attributes: Attributes = {
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'http.request.method': 'POST',
      'http.response.status_code': failure.httpStatus,
    };
    if (method !== undefined) attributes['mcp.method.name'] = method;
    addClient(attributes, start.clientAddress, start.clientPort);
    const span = this.tracer.startSpan(
      method ?? 'POST /mcp',
      { kind: SpanKind.SERVER, startTime: start.arrivedAt, attributes },
      ROOT_CONTEXT,
    );
    const answer = errorFrom(null, failure);
    const auth = this.tracer.startSpan(
      'auth',
      { startTime: start.arrivedAt },
      otelTrace.setSpan(ROOT_CONTEXT, span),
    );
    markAnswer(auth, answer);
    auth.end();
    span.setAttribute('mcp_tenants.outcome', outcomeOf(answer));
    markAnswer(span, answer);
    span.end();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), CLOSE_MS);
        timer.unref();
      });
      const done = this.provider.shutdown().then(
        () => 'done' as const,
        (error: unknown) => {
          this.log.warn('stopping the trace exporter failed', { error: messageOf(error) });
          return 'done' as const;
        },
      );
      if ((await Promise.race([done, late])) === 'late') {
        this.log.warn(`traces not exported within ${CLOSE_MS} ms of shutdown were dropped`);
      }
      clearTimeout(timer);
    })();
    return this.closing;
  }
}

/** The request span and its steps, for one client request. */
class OtelRequestTrace implements TracedRequest {
  private readonly span: Span;
  /** The request span as parent of its steps. */
  private readonly context: Context;
  private response: JsonRpcResponse | undefined;
  private outcome: string | undefined;
  /** The relay's step while open: writing to the child ends it. */
  private relay: EndStep | undefined;
  private ended = false;
  /**
   * Wall-clock milliseconds minus `performance.now()`, taken once per
   * request: all its spans are timed on one clock, so they nest and follow
   * each other exactly (the SDK anchors each span on a clock of its own).
   */
  private readonly offset = Date.now() - performance.now();

  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: W3CTraceContextPropagator,
    private readonly start: RequestStart,
  ) {
    const meta = metaOf(start.request.params);
    // The client's span is the parent; without a valid traceparent, a new trace.
    const parent = meta ? propagator.extract(ROOT_CONTEXT, meta, META_GETTER) : ROOT_CONTEXT;
    this.span = tracer.startSpan(
      spanName(start),
      {
        kind: SpanKind.SERVER,
        startTime: this.time(start.arrivedAt),
        attributes: requestAttributes(start),
      },
      parent,
    );
    this.context = otelTrace.setSpan(ROOT_CONTEXT, this.span);
    if (start.authenticatedAt !== undefined) {
      // The token was checked before the message (and so the parent) was known.
      tracer
        .startSpan('auth', { startTime: this.time(start.arrivedAt) }, this.context)
        .end(this.time(start.authenticatedAt));
    }
  }

  step(name: TracedStep): EndStep {
    const end = this.endOnce(this.tracer.startSpan(name, { startTime: this.time() }, this.context));
    if (name === 'relay') this.relay = end;
    return end;
  }

  toChild(meta: JsonObject | undefined): ChildSpan {
    this.relay?.();
    this.relay = undefined;
    const method = this.start.request.method.slice(0, MAX_METHOD);
    const attributes: Attributes = { 'mcp.method.name': method, 'network.transport': 'pipe' };
    const target = targetOf(this.start.request);
    if (target !== null) addTarget(attributes, method, target);
    if (this.start.tenant !== null) attributes['mcp_tenants.tenant'] = this.start.tenant;
    const span = this.tracer.startSpan(
      'child',
      { kind: SpanKind.CLIENT, attributes, startTime: this.time() },
      this.context,
    );
    const carrier: Record<string, string> = {};
    this.propagator.inject(otelTrace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    // The client's context is replaced by ours, whose parent it is.
    const { traceparent: _client, tracestate: _clientState, ...rest } = meta ?? {};
    return { meta: { ...rest, ...carrier }, end: this.endOnce(span) };
  }

  answered(response: JsonRpcResponse, outcome: string): void {
    this.response = response;
    this.outcome = outcome;
  }

  sessionOpened(id: string): void {
    this.span.setAttribute('mcp.session.id', id);
  }

  end(answer?: JsonRpcResponse): void {
    if (this.ended) return;
    this.ended = true;
    this.relay?.();
    const response = answer ?? this.response;
    if (response) {
      // Telemetry's outcome when the request passed its stage; else the answer's own.
      this.span.setAttribute('mcp_tenants.outcome', this.outcome ?? outcomeOf(response));
      markAnswer(this.span, response);
    }
    this.span.end(this.time());
  }

  fail(error: unknown): void {
    this.end(errorFrom(this.start.request.id, error));
  }

  /** A `performance.now()` reading (now, when not given) on this request's clock. */
  private time(at: number = performance.now()): HrTime {
    return millisToHrTime(at + this.offset);
  }

  private endOnce(span: Span): EndStep {
    let open = true;
    return (answer) => {
      if (!open) return;
      open = false;
      if (answer) markAnswer(span, answer);
      span.end(this.time());
    };
  }
}

/** `{mcp.method.name} {target}`: the tool or prompt; never a resource URI (too many names). */
function spanName(start: RequestStart): string {
  const method = start.request.method.slice(0, MAX_METHOD);
  if (method !== 'tools/call' && method !== 'prompts/get') return method;
  const target = targetOf(start.request);
  return target === null ? method : `${method} ${target}`;
}

function requestAttributes(start: RequestStart): Attributes {
  const { request } = start;
  const method = request.method.slice(0, MAX_METHOD);
  const attributes: Attributes = {
    'mcp.method.name': method,
    'network.transport': start.transport === 'http' ? 'tcp' : 'pipe',
    'mcp_tenants.user': start.user,
  };
  if (request.id !== null) {
    attributes['jsonrpc.request.id'] = String(request.id).slice(0, MAX_ATTRIBUTE_CHARS);
  }
  if (start.transport === 'http') attributes['network.protocol.name'] = 'http';
  if (start.tenant !== null) attributes['mcp_tenants.tenant'] = start.tenant;
  const target = targetOf(request);
  if (target !== null) addTarget(attributes, method, target);
  const version =
    start.protocolVersion ??
    (method === 'initialize'
      ? negotiateProtocolVersion(request.params?.protocolVersion)
      : requestedVersion(request));
  // Only a revision we speak: what a client merely claims is not recorded.
  if (
    version !== undefined &&
    (isSupportedProtocolVersion(version) || isStatelessVersion(version))
  ) {
    attributes['mcp.protocol.version'] = version;
  }
  if (start.sessionId !== undefined) attributes['mcp.session.id'] = start.sessionId;
  addClient(attributes, start.clientAddress, start.clientPort);
  return attributes;
}

function addTarget(attributes: Attributes, method: string, target: string): void {
  if (method === 'tools/call') {
    attributes['gen_ai.tool.name'] = target;
    attributes['gen_ai.operation.name'] = 'execute_tool';
  } else if (method === 'prompts/get') {
    attributes['gen_ai.prompt.name'] = target;
  } else {
    attributes['mcp.resource.uri'] = target;
  }
}

function addClient(attributes: Attributes, address?: string, port?: number): void {
  if (address === undefined) return;
  attributes['client.address'] = address;
  if (port !== undefined) attributes['client.port'] = port;
}

/**
 * Error attributes and status from an answer, as the MCP conventions have
 * them: `error.type` is the JSON-RPC code (or `tool_error` for a result
 * with `isError`), the status message the error's message.
 */
function markAnswer(span: Span, response: JsonRpcResponse): void {
  if ('error' in response) {
    const code = String(response.error.code);
    span.setAttribute('error.type', code);
    span.setAttribute('rpc.response.status_code', code);
    const symbolic = symbolicCode(response);
    if (symbolic !== undefined) span.setAttribute('mcp_tenants.error_code', symbolic);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: String(response.error.message).slice(0, MAX_STATUS_MESSAGE),
    });
    return;
  }
  if (response.result.isError === true) {
    span.setAttribute('error.type', 'tool_error');
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

/** Our own refusals carry their ErrorCode in `error.data.code`. */
function symbolicCode(response: JsonRpcResponse): string | undefined {
  if (!('error' in response)) return undefined;
  const data = response.error.data;
  const code =
    typeof data === 'object' && data !== null ? (data as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code.slice(0, 100) : undefined;
}

/** Telemetry's classification; a refused token (which telemetry never sees) is `auth`. */
function outcomeOf(response: JsonRpcResponse): string {
  const code = symbolicCode(response);
  return code !== undefined && AUTH_CODES.has(code) ? 'auth' : classifyOutcome(response);
}

/**
 * The OTLP exporter, with its failures in the supervisor's log: the first
 * failure at warn, then at most one warning a minute while they go on (with
 * how many batches and spans were lost), and a line when exports work again.
 */
class ReportingExporter implements SpanExporter {
  private failing = false;
  private lastWarning = 0;
  private failedBatches = 0;
  private lostSpans = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.succeeded();
      else this.failed(result.error, spans.length);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  private failed(error: Error | undefined, spans: number): void {
    this.failedBatches += 1;
    this.lostSpans += spans;
    const now = this.now();
    if (this.failing && now - this.lastWarning < EXPORT_WARNING_INTERVAL_MS) return;
    this.log.warn('exporting traces failed; the spans are dropped', {
      error: error ? error.message : 'unknown',
      failed_batches: this.failedBatches,
      dropped_spans: this.lostSpans,
    });
    this.failing = true;
    this.lastWarning = now;
    this.failedBatches = 0;
    this.lostSpans = 0;
  }

  private succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info('exporting traces works again', {
      failed_batches: this.failedBatches,
      dropped_spans: this.lostSpans,
    });
    this.failedBatches = 0;
    this.lostSpans = 0;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
