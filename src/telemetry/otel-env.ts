import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  type BatchSpanProcessorOptions,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';

/**
 * The standard variables the 2.x trace SDK no longer reads by itself (its
 * changelog leaves them to the Node SDK package): the sampler and the batch
 * processor's settings, mapped onto the SDK's own classes. Everything else
 * (endpoint, headers, timeout, compression, service name, resource
 * attributes) the exporter and the resource detector read themselves.
 * A value that does not parse is reported and its default used, as the
 * specification asks.
 */

type Warn = (message: string) => void;

const BATCH_VARIABLES = {
  OTEL_BSP_SCHEDULE_DELAY: 'scheduledDelayMillis',
  OTEL_BSP_EXPORT_TIMEOUT: 'exportTimeoutMillis',
  OTEL_BSP_MAX_QUEUE_SIZE: 'maxQueueSize',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'maxExportBatchSize',
} as const;

type BatchSettings = Partial<Omit<BatchSpanProcessorOptions, 'exporter'>>;

/** `OTEL_BSP_*`: whole non-negative numbers of milliseconds or spans. */
export function batchSettings(env: NodeJS.ProcessEnv, warn: Warn): BatchSettings {
  const settings: BatchSettings = {};
  for (const [variable, key] of Object.entries(BATCH_VARIABLES)) {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) {
      warn(`${variable}=${raw} is not a whole number of at least 0; using the default`);
      continue;
    }
    settings[key] = value;
  }
  return settings;
}

/** `OTEL_TRACES_SAMPLER_ARG` for the ratio samplers: 0 to 1, default 1. */
function ratioOf(env: NodeJS.ProcessEnv, warn: Warn): number {
  const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (raw === undefined || raw === '') return 1;
  const ratio = Number(raw);
  if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) return ratio;
  warn(`OTEL_TRACES_SAMPLER_ARG=${raw} is not a ratio between 0 and 1; using 1`);
  return 1;
}

/**
 * `OTEL_TRACES_SAMPLER` as the SDK's sampler; undefined for the SDK's
 * default (`parentbased_always_on`), also when the name is one this SDK
 * does not have (Jaeger remote, X-Ray).
 */
export function samplerFrom(env: NodeJS.ProcessEnv, warn: Warn): Sampler | undefined {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  switch (name) {
    case undefined:
    case '':
      return undefined;
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratioOf(env, warn));
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratioOf(env, warn)) });
    default:
      warn(`OTEL_TRACES_SAMPLER=${name} is not available here; using parentbased_always_on`);
      return undefined;
  }
}

/**
 * Reports settings the installed exporter cannot honour: it exports OTLP
 * over HTTP as JSON, which OTLP/HTTP receivers accept next to protobuf;
 * gRPC and other exporters are not installed.
 */
export function checkExporterSettings(env: NodeJS.ProcessEnv, warn: Warn): void {
  const protocol = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    ''
  ).trim();
  if (protocol !== '' && protocol !== 'http/json') {
    warn(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not available with the installed exporter; exporting http/json`,
    );
  }
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '' && name !== 'otlp');
  if (exporters.length > 0) {
    warn(`OTEL_TRACES_EXPORTER=${exporters.join(',')} is not available; exporting OTLP`);
  }
}
