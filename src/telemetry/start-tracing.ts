import type { Logger } from '../core/logger.js';
import { NO_TRACING, type Tracing } from './tracing.js';

/** Values of the standard variables that mean "on" (OpenTelemetry reads booleans this way). */
function isTrue(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === 'true';
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

/**
 * Whether the environment asks for traces, by OpenTelemetry's own
 * variables: an OTLP endpoint (general or for traces), unless
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER` says `none`.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (isTrue(env.OTEL_SDK_DISABLED)) return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim());
  if (exporters.includes('none')) return false;
  return isSet(env.OTEL_EXPORTER_OTLP_ENDPOINT) || isSet(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * The supervisor's tracing for this environment. Off unless asked for; the
 * SDK is imported only then. A failure to set it up is logged and leaves
 * tracing off: traces are never a reason for the supervisor not to serve.
 */
export async function startTracing(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tracing> {
  if (!tracingRequested(env)) return NO_TRACING;
  try {
    const { startOtelTracing } = await import('./otel-tracer.js');
    return startOtelTracing(log, env);
  } catch (error) {
    log.error('OpenTelemetry tracing could not start; serving without traces', {
      error: error instanceof Error ? error.message : String(error),
    });
    return NO_TRACING;
  }
}
