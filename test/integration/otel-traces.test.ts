import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Client as SdkClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { connectHttp, rawPost, statelessPost, textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  CLI,
  createWorkspace,
  REPO_ROOT,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/** The client's span: its trace id and span id are what the supervisor's span must name. */
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
const STEPS = ['auth', 'policy', 'quota', 'relay', 'child'];

// OTLP's enums, as the JSON encoding writes them.
const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/**
 * A tool module for the built-in child that sees the lines the supervisor
 * writes to the child's stdin (by wrapping the stream's emit, so the
 * server's own reader still gets every chunk first-hand) and answers with
 * the `_meta` its own call arrived with: what the child really received.
 */
const SEEN_META_MODULE = `
const seen = new Map();
let partial = '';
const emit = process.stdin.emit;
process.stdin.emit = function (event, chunk, ...rest) {
  if (event === 'data') {
    const lines = (partial + String(chunk)).split('\\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const message = JSON.parse(line);
        if (message.method === 'tools/call' && message.params?.name === 'seen_meta') {
          seen.set(message.params.arguments?.tag, message.params._meta ?? {});
        }
      } catch {}
    }
  }
  return emit.call(this, event, chunk, ...rest);
};
export default function register(api) {
  api.registerTool(
    'seen_meta',
    {
      description: 'The _meta this call reached the child with',
      inputSchema: { tag: api.z.string() },
      annotations: { readOnlyHint: true },
    },
    async ({ tag }) => JSON.stringify(seen.get(tag) ?? null),
  );
}
`;

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
  serviceName: unknown;
}

type OtlpValue = {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
};

function otlpValue(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  return value.doubleValue;
}

function attributesOf(list: { key: string; value: OtlpValue }[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, otlpValue(value)]));
}

/** An OTLP/HTTP receiver (JSON encoding) on a free loopback port. */
class Receiver {
  readonly spans: ExportedSpan[] = [];
  /** Every POST it got, whatever its path. */
  posts = 0;
  /** Its URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => this.receive(request, response));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Waits until a span matching `match` has been exported. */
  span(match: (span: ExportedSpan) => boolean, what: string): Promise<ExportedSpan> {
    return waitFor(() => this.spans.find(match), 10_000, what);
  }

  childrenOf(parent: ExportedSpan): ExportedSpan[] {
    return this.spans.filter(
      (span) => span.traceId === parent.traceId && span.parentSpanId === parent.spanId,
    );
  }

  private receive(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.posts += 1;
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = attributesOf(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            this.spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              status: span.status ?? {},
              serviceName: resource['service.name'],
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }
}

/** The test's environment without any OpenTelemetry variable, plus `vars`. */
function otelEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('OTEL_')) env[key] = value;
  }
  return { ...env, ...vars };
}

/** `serve` started with exactly these OpenTelemetry variables (startServe passes on process.env). */
async function serveWith(
  manifestPath: string,
  vars: Record<string, string>,
): Promise<ServeProcess> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('OTEL_')) delete process.env[key];
  }
  Object.assign(process.env, vars);
  try {
    return await startServe(manifestPath);
  } finally {
    for (const key of Object.keys(process.env)) {
      if (!(key in saved)) delete process.env[key];
    }
    Object.assign(process.env, saved);
  }
}

function exportingTo(endpoint: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '20',
  };
}

/** The `_meta` the built-in child saw, from a `seen_meta` result. */
function seenMeta(result: unknown): Record<string, unknown> {
  return JSON.parse(textOf(result)) as Record<string, unknown>;
}

describe('OpenTelemetry traces through serve', () => {
  let workspace: TestWorkspace;
  let receiver: Receiver;
  let serve: ServeProcess | undefined;
  const clients: Client[] = [];

  const token = (user: string, permissions?: string[]) =>
    signToken(
      { secret: workspace.secret },
      { tenantId: 'acme', userId: user, ttlSeconds: 600, ...(permissions && { permissions }) },
    );

  beforeAll(async () => {
    workspace = createWorkspace({ acme: { tools_modules: ['./seen-meta.mjs'] } });
    writeFileSync(join(workspace.dir, 'seen-meta.mjs'), SEEN_META_MODULE);
    receiver = new Receiver();
    const endpoint = await receiver.start();
    serve = await serveWith(workspace.manifestPath, {
      ...exportingTo(endpoint),
      OTEL_SERVICE_NAME: 'tenants-under-test',
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await serve?.stop();
    await receiver?.close();
    workspace?.cleanup();
  });

  it('traces a tools/call under the client span, with every step, and the child joins the trace', async () => {
    const client = await connectHttp(serve!.url, await token('alice'));
    clients.push(client);
    const result = await client.callTool({
      name: 'seen_meta',
      arguments: { tag: 'http' },
      _meta: { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' },
    });

    const request = await receiver.span(
      (span) => span.name === 'tools/call seen_meta' && span.traceId === CLIENT_TRACE,
      'the request span',
    );
    expect(request.parentSpanId).toBe(CLIENT_SPAN);
    expect(request.kind).toBe(KIND_SERVER);
    expect(request.serviceName).toBe('tenants-under-test');
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId;
    expect(request.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'seen_meta',
      'gen_ai.operation.name': 'execute_tool',
      'mcp.session.id': sessionId,
      'mcp.protocol.version': expect.any(String),
      'jsonrpc.request.id': expect.any(String),
      'network.transport': 'tcp',
      'mcp_tenants.tenant': 'acme',
      'mcp_tenants.user': 'alice',
      'mcp_tenants.outcome': 'ok',
    });
    expect(request.attributes['error.type']).toBeUndefined();
    expect(request.status.code ?? 0).not.toBe(STATUS_ERROR);

    // Steps end before the request span does: they are in the same batch or an earlier one.
    const steps = receiver.childrenOf(request);
    expect(steps.map((span) => span.name).sort()).toEqual([...STEPS].sort());
    const child = steps.find((span) => span.name === 'child');
    expect(child?.kind).toBe(KIND_CLIENT);

    // What the built-in child received: our child span as its parent, in the client's trace.
    const meta = seenMeta(result);
    expect(meta.traceparent).toBe(`00-${CLIENT_TRACE}-${child?.spanId}-01`);
    expect(meta.tracestate).toBe('vendor=opaque');
  });

  it('ends a refused call with an error span, at the step that refused it', async () => {
    const client = await connectHttp(serve!.url, await token('ivan', ['tools:data_get']));
    clients.push(client);
    const refused = await client
      .callTool({
        name: 'data_set',
        arguments: { key: 'k', value: 'v' },
        _meta: { traceparent: `00-${'1'.repeat(32)}-${CLIENT_SPAN}-01` },
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(String(refused)).toMatch(/-30403/);

    const request = await receiver.span(
      (span) => span.name === 'tools/call data_set' && span.traceId === '1'.repeat(32),
      'the refused request span',
    );
    expect(request.status.code).toBe(STATUS_ERROR);
    expect(request.attributes).toMatchObject({
      'error.type': '-30403',
      'rpc.response.status_code': '-30403',
      'mcp_tenants.error_code': 'FORBIDDEN',
      'mcp_tenants.outcome': 'permission',
      'mcp_tenants.user': 'ivan',
    });
    const steps = receiver.childrenOf(request);
    // Refused by policy: quota, the relay and the child never saw it.
    expect(steps.map((span) => span.name).sort()).toEqual(['auth', 'policy']);
    const policy = steps.find((span) => span.name === 'policy');
    expect(policy?.status.code).toBe(STATUS_ERROR);
    expect(policy?.attributes['error.type']).toBe('-30403');
  });

  it('traces a refused token, and a new trace for a request without traceparent', async () => {
    const refused = await rawPost(
      serve!.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { authorization: 'Bearer not-a-token' },
    );
    expect(refused.status).toBe(401);
    const span = await receiver.span(
      (candidate) => candidate.attributes['mcp_tenants.outcome'] === 'auth',
      'the refused token span',
    );
    expect(span.kind).toBe(KIND_SERVER);
    expect(span.status.code).toBe(STATUS_ERROR);
    expect(span.attributes['error.type']).toBe('-30401');
    expect(span.attributes['http.response.status_code']).toBe(401);
    expect(receiver.childrenOf(span).map((step) => step.name)).toEqual(['auth']);

    const client = await connectHttp(serve!.url, await token('alice'));
    clients.push(client);
    await client.listTools();
    const list = await receiver.span(
      (candidate) =>
        candidate.name === 'tools/list' && candidate.attributes['mcp_tenants.user'] === 'alice',
      'the tools/list span',
    );
    expect(list.parentSpanId).toBe('');
    expect(list.traceId).not.toBe(CLIENT_TRACE);
  });

  it('keeps what a client chooses (ids, versions) short in every span', async () => {
    const client = await connectHttp(serve!.url, await token('alice'));
    clients.push(client);
    const huge = `id-${'x'.repeat(100_000)}`;
    // Sent as it is: the SDK's own requests have numeric ids.
    await client.transport?.send({
      jsonrpc: '2.0',
      id: huge,
      method: 'tools/list',
      params: { _meta: { 'io.modelcontextprotocol/protocolVersion': 'v'.repeat(50_000) } },
    });
    const span = await receiver.span(
      (one) => String(one.attributes['jsonrpc.request.id'] ?? '').startsWith('id-xxx'),
      'the span of the request with a long id',
    );
    expect(String(span.attributes['jsonrpc.request.id']).length).toBeLessThanOrEqual(256);
    for (const value of Object.values(span.attributes)) {
      expect(String(value).length).toBeLessThanOrEqual(256);
    }
  });

  it('traces a stateless (2026-07-28) request', async () => {
    const traceId = '2'.repeat(32);
    const answer = await statelessPost(serve!.url, {
      token: await token('alice'),
      method: 'tools/call',
      params: {
        name: 'seen_meta',
        arguments: { tag: 'stateless' },
        _meta: { traceparent: `00-${traceId}-${CLIENT_SPAN}-01` },
      },
    });
    expect(answer.status).toBe(200);
    const request = await receiver.span(
      (span) => span.name === 'tools/call seen_meta' && span.traceId === traceId,
      'the stateless request span',
    );
    expect(request.parentSpanId).toBe(CLIENT_SPAN);
    expect(request.attributes['mcp.protocol.version']).toBe('2026-07-28');
    expect(request.attributes['mcp.session.id']).toBeUndefined();
    expect(request.attributes['mcp_tenants.outcome']).toBe('ok');
    const steps = receiver.childrenOf(request);
    expect(steps.map((span) => span.name).sort()).toEqual([...STEPS].sort());
    const child = steps.find((span) => span.name === 'child');
    const meta = seenMeta((answer.body as { result: unknown }).result);
    expect(meta.traceparent).toBe(`00-${traceId}-${child?.spanId}-01`);
  });

  it('traces requests on stdio, and exports what is left when the connection ends', async () => {
    const traceId = '3'.repeat(32);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
      env: otelEnv({
        ...exportingTo(receiver.endpoint),
        // Long enough that only the shutdown's flush can have sent the spans.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        MCP_TENANT_TOKEN: await token('stella'),
      }) as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new SdkClient({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    const result = await client.callTool({
      name: 'seen_meta',
      arguments: { tag: 'stdio' },
      _meta: { traceparent: `00-${traceId}-${CLIENT_SPAN}-01` },
    });
    await client.close();

    const request = await receiver.span(
      (span) => span.name === 'tools/call seen_meta' && span.traceId === traceId,
      'the stdio request span',
    );
    expect(request.parentSpanId).toBe(CLIENT_SPAN);
    expect(request.attributes).toMatchObject({
      'network.transport': 'pipe',
      'mcp_tenants.user': 'stella',
      'mcp_tenants.outcome': 'ok',
      'mcp.protocol.version': expect.any(String),
    });
    const steps = receiver.childrenOf(request);
    expect(steps.map((span) => span.name).sort()).toEqual([...STEPS].sort());
    const child = steps.find((span) => span.name === 'child');
    expect(seenMeta(result).traceparent).toBe(`00-${traceId}-${child?.spanId}-01`);
  });
});

describe('OpenTelemetry traces off', () => {
  let workspace: TestWorkspace;
  let receiver: Receiver;

  beforeAll(async () => {
    workspace = createWorkspace({ acme: { tools_modules: ['./seen-meta.mjs'] } });
    writeFileSync(join(workspace.dir, 'seen-meta.mjs'), SEEN_META_MODULE);
    receiver = new Receiver();
    await receiver.start();
  });

  afterAll(async () => {
    await receiver?.close();
    workspace?.cleanup();
  });

  /** A call with a traceparent through `serve` with `vars`; the child's `_meta`. */
  async function callThrough(vars: Record<string, string>): Promise<Record<string, unknown>> {
    const serve = await serveWith(workspace.manifestPath, vars);
    try {
      const token = await workspace.token('acme', 'alice');
      const client = await connectHttp(serve.url, token);
      try {
        return seenMeta(
          await client.callTool({
            name: 'seen_meta',
            arguments: { tag: 'off' },
            _meta: { traceparent: TRACEPARENT },
          }),
        );
      } finally {
        await client.close();
      }
    } finally {
      // A graceful stop exports whatever was queued: after it, nothing more can come.
      expect((await serve.stop()).code).toBe(0);
    }
  }

  it('without OpenTelemetry variables, loads none of its modules', () => {
    // The supervisor's composition root and its tracing, as `serve` loads them, in a fresh process.
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'app', 'supervisor.js'))});
      const { startTracing } = await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'telemetry', 'start-tracing.js'))});
      const log = { debug() {}, info() {}, warn() {}, error() {}, with() { return log; } };
      const tracing = await startTracing(log, process.env);
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('@opentelemetry'));
      process.stdout.write(JSON.stringify({ on: tracing.on, loaded: loaded.length }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: otelEnv({}),
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ on: false, loaded: 0 });
  });

  it('without OpenTelemetry variables, passes _meta to the child untouched', async () => {
    const meta = await callThrough({});
    expect(meta.traceparent).toBe(TRACEPARENT);
  });

  it('exports nothing when the SDK is disabled or the exporter is none, though an endpoint is set', async () => {
    const offs: Record<string, string>[] = [
      { OTEL_SDK_DISABLED: 'true' },
      { OTEL_TRACES_EXPORTER: 'none' },
    ];
    for (const off of offs) {
      const meta = await callThrough({ ...exportingTo(receiver.endpoint), ...off });
      expect(meta.traceparent).toBe(TRACEPARENT);
    }
    expect(receiver.posts).toBe(0);
  });
});
