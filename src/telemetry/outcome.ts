import { ErrorCode, JsonRpcCode } from '../core/errors.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../core/jsonrpc.js';

/** What became of one request, as the report and `/metrics` count it. */
export type Outcome =
  | 'ok'
  | 'tool_error'
  | 'rpc_error'
  | 'quota'
  | 'permission'
  | 'timeout'
  | 'crash'
  | 'cancelled';

/** The outcomes that count as errors (`cancelled` is the client's own doing). */
export const ERROR_KINDS = [
  'tool_error',
  'rpc_error',
  'quota',
  'permission',
  'timeout',
  'crash',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

const ERROR_SET: ReadonlySet<string> = new Set(ERROR_KINDS);

/** Whether an outcome counts as an error (`cancelled` does not: the client's own doing). */
export function isErrorOutcome(outcome: string): boolean {
  return ERROR_SET.has(outcome);
}

/** JSON-RPC "request cancelled", used by the relay when a client cancels or leaves. */
const CANCELLED = JsonRpcCode.REQUEST_CANCELLED;

/**
 * The supervisor's own refusals carry their symbolic code in `error.data.code`
 * (see errors.ts); that, not the numeric code, decides the kind, because a
 * child may use the same numbers for its own reasons. A Map: a child's own
 * `data.code` may be any text, `constructor` included.
 */
const KIND_BY_CODE: ReadonlyMap<string, Outcome> = new Map<string, Outcome>([
  [ErrorCode.QUOTA_EXCEEDED, 'quota'],
  [ErrorCode.STORAGE_QUOTA_EXCEEDED, 'quota'],
  [ErrorCode.FORBIDDEN, 'permission'],
  [ErrorCode.CHILD_TIMEOUT, 'timeout'],
  [ErrorCode.CHILD_CRASHED, 'crash'],
  [ErrorCode.CHILD_UNAVAILABLE, 'crash'],
]);

export function classifyOutcome(response: JsonRpcResponse): Outcome {
  if ('result' in response) return response.result.isError === true ? 'tool_error' : 'ok';
  const data = response.error.data;
  const code =
    typeof data === 'object' && data !== null ? (data as { code?: unknown }).code : undefined;
  const kind = typeof code === 'string' ? KIND_BY_CODE.get(code) : undefined;
  if (kind) return kind;
  return response.error.code === CANCELLED ? 'cancelled' : 'rpc_error';
}

const MAX_NAME_LENGTH = 200;

/** The tool, prompt or resource a request is about, if any (bounded length). */
export function targetOf(request: JsonRpcRequest): string | null {
  const params = request.params;
  let target: unknown;
  switch (request.method) {
    case 'tools/call':
    case 'prompts/get':
      target = params?.name;
      break;
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      target = params?.uri;
      break;
    default:
      return null;
  }
  return typeof target === 'string' ? target.slice(0, MAX_NAME_LENGTH) : null;
}

/** Methods the audit trail records: operations on a tenant's data. */
export const AUDITED_METHODS: ReadonlySet<string> = new Set([
  'tools/call',
  'resources/read',
  'prompts/get',
]);
