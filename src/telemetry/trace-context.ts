import type { JsonRpcRequest } from '../core/jsonrpc.js';
import { metaOf } from '../core/jsonrpc.js';

/** W3C Trace Context `traceparent`: version-traceid-parentid-flags, lowercase hex. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The trace id of a request whose client put a `traceparent` in `_meta`
 * (OpenTelemetry's MCP convention). The child joins the same trace: the
 * relay passes `_meta` unchanged, or, with tracing on, names its own span
 * there (tracing.ts). Telemetry and the audit trail record the id so a slow
 * or failed call can be found in both.
 */
export function traceIdOf(request: JsonRpcRequest): string | null {
  const value = metaOf(request.params)?.traceparent;
  if (typeof value !== 'string') return null;
  const match = TRACEPARENT.exec(value);
  if (!match) return null;
  const [, version, traceId, parentId] = match;
  if (version === 'ff' || /^0+$/.test(traceId ?? '') || /^0+$/.test(parentId ?? '')) return null;
  return traceId ?? null;
}
