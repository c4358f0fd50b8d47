import type { TenantConfig } from '../core/config.js';
import { errorFrom } from '../core/errors.js';
import type { JsonRpcResponse } from '../core/jsonrpc.js';
import type { ForwardContext, RequestStage } from '../core/pipeline.js';
import { wireBytes } from '../core/wire-bytes.js';
import { AUDITED_METHODS, classifyOutcome, targetOf } from './outcome.js';
import type { AuditEntry, RequestRecord } from './records.js';
import { traceIdOf } from './trace-context.js';

export interface RequestSink {
  request(record: RequestRecord): void;
  audit(entry: AuditEntry): void;
}

/**
 * The telemetry stage: first in the request path, so it also sees the
 * refusals of the stages after it (policy, quota) as error responses. On the
 * request path it reads the clock and the sizes the messages had when they
 * entered, and queues a record of plain fields; SQL and the audit hash
 * happen later, in the batch writer.
 */
export function telemetryStage(sink: RequestSink, now: () => number = Date.now): RequestStage {
  return async (context, next) => {
    const ts = now();
    // Before `next`: later stages and the relay may rewrite the request.
    const requestBytes = wireBytes(context.request);
    let response: JsonRpcResponse;
    try {
      response = await next(context.request);
    } catch (error) {
      response = errorFrom(context.request.id, error);
    }
    const latencyUs = Math.max(0, Math.round((performance.now() - context.startedAt) * 1000));
    const outcome = classifyOutcome(response);
    // The request's span takes the outcome from here, so it is classified once.
    context.trace?.answered(response, outcome);
    const name = targetOf(context.request);
    const record: RequestRecord = {
      kind: 'request',
      ts,
      tenant: context.tenant.id,
      user: context.session.caller.userId,
      method: context.request.method,
      name,
      outcome,
      errorCode: 'error' in response ? response.error.code : null,
      latencyUs,
      traceId: traceIdOf(context.request),
      requestBytes,
      responseBytes: wireBytes(response),
    };
    sink.request(record);
    if (AUDITED_METHODS.has(record.method)) sink.audit(auditEntry(context, record, response));
    return response;
  };
}

function auditEntry(
  context: ForwardContext,
  record: RequestRecord,
  response: JsonRpcResponse,
): AuditEntry {
  const detail: Record<string, unknown> = {};
  if ('error' in response) {
    detail.error_code = response.error.code;
    detail.error = response.error.message.slice(0, 300);
  }
  if (context.session.caller.jti !== undefined) detail.jti = context.session.caller.jti;
  if (record.traceId !== null) detail.trace_id = record.traceId;
  const args = argumentsOf(context.tenant, context.request.params);
  if (args !== undefined) detail.arguments = args;
  return {
    kind: 'audit',
    ts: record.ts,
    tenant: record.tenant,
    actor: record.user,
    action: record.method,
    target: record.name,
    outcome: record.outcome,
    detail: Object.keys(detail).length > 0 ? detail : null,
  };
}

/**
 * The call's arguments, only when the tenant's `audit.arguments` is on, cut
 * to the cap: a copy (the entry waits in the batch writer and must not keep
 * the client's message), or its head as text.
 */
function argumentsOf(tenant: TenantConfig, params: Record<string, unknown> | undefined): unknown {
  if (!tenant.audit.arguments || params?.arguments === undefined) return undefined;
  let text: string;
  try {
    text = JSON.stringify(params.arguments);
  } catch {
    return { unrecorded: 'the arguments could not be serialised' };
  }
  const max = tenant.audit.max_argument_bytes;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= max) return JSON.parse(text);
  // A character cut in half decodes as U+FFFD: drop it, so the head stays within the cap.
  const head = Buffer.from(text, 'utf8')
    .subarray(0, max)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return { truncated: true, bytes, head };
}
