import { describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { silentLogger } from '../../src/core/logger.js';
import {
  attachedTrace,
  attachTrace,
  Cancellation,
  type RelaySession,
  type RequestStage,
  type RequestTrace,
  runStages,
  tracedStage,
} from '../../src/core/pipeline.js';
import { batchSettings, checkExporterSettings, samplerFrom } from '../../src/telemetry/otel-env.js';
import { startTracing, tracingRequested } from '../../src/telemetry/start-tracing.js';
import { NO_TRACING } from '../../src/telemetry/tracing.js';
import { tenantConfig } from '../helpers/tenant-config.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

describe('whether tracing is on', () => {
  it('follows the standard variables', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
    expect(tracingRequested(ENDPOINT)).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c/v1/traces' })).toBe(
      true,
    );
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBe(false);
    expect(tracingRequested({ ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' })).toBe(false);
    expect(tracingRequested({ ...ENDPOINT, OTEL_SDK_DISABLED: 'false' })).toBe(true);
    expect(tracingRequested({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracingRequested({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
  });

  it('is the no-op without an endpoint', async () => {
    expect(await startTracing(silentLogger, {})).toBe(NO_TRACING);
    expect(NO_TRACING.on).toBe(false);
  });
});

describe('the variables the trace SDK leaves to its user', () => {
  it('maps OTEL_BSP_* onto the batch processor, reporting what does not parse', () => {
    const warnings: string[] = [];
    const settings = batchSettings(
      {
        OTEL_BSP_SCHEDULE_DELAY: '20',
        OTEL_BSP_EXPORT_TIMEOUT: '1000',
        OTEL_BSP_MAX_QUEUE_SIZE: 'lots',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '-1',
      },
      (line) => warnings.push(line),
    );
    expect(settings).toEqual({ scheduledDelayMillis: 20, exportTimeoutMillis: 1000 });
    expect(warnings).toHaveLength(2);
  });

  it('maps OTEL_TRACES_SAMPLER and its argument onto the SDK samplers', () => {
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    expect(samplerFrom({}, warn)).toBeUndefined();
    expect(samplerFrom({ OTEL_TRACES_SAMPLER: 'always_off' }, warn)?.toString()).toBe(
      'AlwaysOffSampler',
    );
    expect(
      samplerFrom(
        { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' },
        warn,
      )?.toString(),
    ).toMatch(/ParentBased\{root=TraceIdRatioBased\{0\.25\}/);
    expect(warnings).toEqual([]);
    expect(samplerFrom({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, warn)).toBeUndefined();
    expect(
      samplerFrom({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, warn),
    ).toBeDefined();
    expect(warnings).toHaveLength(2);
  });

  it('says when a protocol or exporter asked for is not installed', () => {
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    checkExporterSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, warn);
    expect(warnings).toEqual([]);
    checkExporterSettings(
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_TRACES_EXPORTER: 'otlp,console' },
      warn,
    );
    expect(warnings).toHaveLength(2);
  });
});

/** A trace that writes down what the request path told it. */
function recordingTrace(): RequestTrace & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    step: (name) => {
      events.push(`start ${name}`);
      return (answer) => events.push(`end ${name}${answer && 'error' in answer ? ' refused' : ''}`);
    },
    toChild: (meta) => ({ meta: meta ?? {}, end: () => events.push('end child') }),
    answered: (_response, outcome) => events.push(`answered ${outcome}`),
  };
}

describe('stage spans', () => {
  const session: RelaySession = {
    id: 's',
    caller: { userId: 'alice', permissions: [], isAdmin: false },
    capabilities: undefined,
    deliver: () => true,
  };
  const request: JsonRpcRequest = {
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name: 'x' },
  };
  const ok: JsonRpcResponse = { jsonrpc: '2.0', id: 7, result: {} };
  const run = (stages: RequestStage[], trace: RequestTrace | undefined) =>
    runStages(
      stages,
      {
        tenant: tenantConfig({ id: 'acme' }),
        session,
        request,
        startedAt: performance.now(),
        cancellation: new Cancellation(),
        trace,
      },
      async () => ok,
    );
  const passing: RequestStage = async (context, next) => next(context.request);
  const refusing: RequestStage = async () => {
    throw new McpTenantsError(ErrorCode.FORBIDDEN, 'no');
  };

  it('spans a stage up to where it passes the request on, or refuses it', async () => {
    const trace = recordingTrace();
    await run([tracedStage('policy', passing), tracedStage('quota', passing)], trace);
    expect(trace.events).toEqual(['start policy', 'end policy', 'start quota', 'end quota']);

    const refused = recordingTrace();
    await expect(run([tracedStage('policy', refusing)], refused)).rejects.toThrow('no');
    expect(refused.events).toEqual(['start policy', 'end policy refused']);
  });

  it('costs an untraced request nothing but the check', async () => {
    expect(await run([tracedStage('policy', passing)], undefined)).toBe(ok);
  });

  it('carries a trace with its request, through copies, and never into JSON', () => {
    const message: JsonRpcRequest = { ...request };
    const trace = recordingTrace();
    attachTrace(message, trace);
    expect(attachedTrace(message)).toBe(trace);
    expect(attachedTrace({ ...message, params: {} })).toBe(trace);
    expect(attachedTrace(request)).toBeUndefined();
    expect(JSON.parse(JSON.stringify(message))).toEqual(request);
  });
});
