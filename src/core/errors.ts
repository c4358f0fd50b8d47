import { errorResponse, type JsonRpcId, type JsonRpcResponse } from './jsonrpc.js';

/**
 * The one error type of mcp-tenants. Every failure the supervisor can explain
 * carries a code; the code decides, in one place, the HTTP status, the
 * JSON-RPC error code and the CLI exit code. Only the fronts and the CLI entry
 * turn these into output.
 */

export const ErrorCode = {
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  MANIFEST_NOT_FOUND: 'MANIFEST_NOT_FOUND',
  USAGE: 'USAGE',
  AUTH_MISSING: 'AUTH_MISSING',
  AUTH_INVALID: 'AUTH_INVALID',
  TENANT_UNKNOWN: 'TENANT_UNKNOWN',
  TENANT_EXISTS: 'TENANT_EXISTS',
  FORBIDDEN: 'FORBIDDEN',
  ORIGIN_FORBIDDEN: 'ORIGIN_FORBIDDEN',
  SESSION_UNKNOWN: 'SESSION_UNKNOWN',
  BAD_REQUEST: 'BAD_REQUEST',
  PARSE_ERROR: 'PARSE_ERROR',
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  JSON_TOO_DEEP: 'JSON_TOO_DEEP',
  NOT_ACCEPTABLE: 'NOT_ACCEPTABLE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  NOT_FOUND: 'NOT_FOUND',
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  STORAGE_QUOTA_EXCEEDED: 'STORAGE_QUOTA_EXCEEDED',
  CHILD_UNAVAILABLE: 'CHILD_UNAVAILABLE',
  CHILD_CRASHED: 'CHILD_CRASHED',
  CHILD_TIMEOUT: 'CHILD_TIMEOUT',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  AUDIT_TAMPERED: 'AUDIT_TAMPERED',
  REQUEST_STATE_INVALID: 'REQUEST_STATE_INVALID',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  NODE_UNAVAILABLE: 'NODE_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every JSON-RPC error code mcp-tenants sends, each with where it is
 * defined. The numbers are what a JSON-RPC client sees; `error.data.code`
 * (an ErrorCode) is the stable contract for telling our refusals apart.
 */
export const JsonRpcCode = {
  // JSON-RPC 2.0, section 5.1 (https://www.jsonrpc.org/specification#error_object).
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /**
   * The official MCP SDKs' RequestTimeout (local in SDK 1.x): what the relay
   * tells a child whose request to a client got no answer in time.
   */
  REQUEST_TIMEOUT: -32001,
  /**
   * LSP's RequestCancelled (no MCP SDK gives it another meaning): the answer
   * a cancelled request gets where the transport needs one.
   */
  REQUEST_CANCELLED: -32800,
  /**
   * Resource not found in MCP 2025-11-25 and earlier (2026-07-28 uses
   * INVALID_PARAMS instead, and clients should still accept this one).
   */
  RESOURCE_NOT_FOUND_2025: -32002,
  // MCP 2026-07-28, "Error handling" of the base protocol.
  HEADER_MISMATCH: -32020,
  MISSING_REQUIRED_CLIENT_CAPABILITY: -32021,
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
  /**
   * mcp-tenants' own. MCP 2026-07-28 ("Error codes" in the base protocol)
   * reserves -32020..-32099 for the specification, closes -32000..-32019 to
   * new codes, and asks for application codes outside JSON-RPC's reserved
   * -32768..-32000; no official SDK uses these. The last three digits echo
   * the HTTP status of the same refusal.
   */
  UNAUTHORIZED: -30401,
  FORBIDDEN: -30403,
  SESSION_UNKNOWN: -30404,
  QUOTA_EXCEEDED: -30429,
  CHILD_UNAVAILABLE: -30503,
  CHILD_TIMEOUT: -30504,
} as const;

interface CodeMapping {
  http: number;
  jsonRpc: number;
  exit: number;
}

const mapping: Record<ErrorCode, CodeMapping> = {
  MANIFEST_INVALID: { http: 500, jsonRpc: JsonRpcCode.INTERNAL_ERROR, exit: 3 },
  MANIFEST_NOT_FOUND: { http: 500, jsonRpc: JsonRpcCode.INTERNAL_ERROR, exit: 3 },
  USAGE: { http: 400, jsonRpc: JsonRpcCode.INVALID_PARAMS, exit: 2 },
  AUTH_MISSING: { http: 401, jsonRpc: JsonRpcCode.UNAUTHORIZED, exit: 4 },
  AUTH_INVALID: { http: 401, jsonRpc: JsonRpcCode.UNAUTHORIZED, exit: 4 },
  TENANT_UNKNOWN: { http: 403, jsonRpc: JsonRpcCode.FORBIDDEN, exit: 5 },
  TENANT_EXISTS: { http: 409, jsonRpc: JsonRpcCode.INVALID_PARAMS, exit: 5 },
  FORBIDDEN: { http: 403, jsonRpc: JsonRpcCode.FORBIDDEN, exit: 4 },
  ORIGIN_FORBIDDEN: { http: 403, jsonRpc: JsonRpcCode.FORBIDDEN, exit: 4 },
  SESSION_UNKNOWN: { http: 404, jsonRpc: JsonRpcCode.SESSION_UNKNOWN, exit: 1 },
  BAD_REQUEST: { http: 400, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  PARSE_ERROR: { http: 400, jsonRpc: JsonRpcCode.PARSE_ERROR, exit: 1 },
  BODY_TOO_LARGE: { http: 413, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  JSON_TOO_DEEP: { http: 400, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  NOT_ACCEPTABLE: { http: 406, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  METHOD_NOT_ALLOWED: { http: 405, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  NOT_FOUND: { http: 404, jsonRpc: JsonRpcCode.INVALID_REQUEST, exit: 1 },
  QUOTA_EXCEEDED: { http: 429, jsonRpc: JsonRpcCode.QUOTA_EXCEEDED, exit: 6 },
  STORAGE_QUOTA_EXCEEDED: { http: 507, jsonRpc: JsonRpcCode.QUOTA_EXCEEDED, exit: 6 },
  CHILD_UNAVAILABLE: { http: 503, jsonRpc: JsonRpcCode.CHILD_UNAVAILABLE, exit: 7 },
  CHILD_CRASHED: { http: 502, jsonRpc: JsonRpcCode.CHILD_UNAVAILABLE, exit: 7 },
  CHILD_TIMEOUT: { http: 504, jsonRpc: JsonRpcCode.CHILD_TIMEOUT, exit: 7 },
  SHUTTING_DOWN: { http: 503, jsonRpc: JsonRpcCode.CHILD_UNAVAILABLE, exit: 1 },
  AUDIT_TAMPERED: { http: 500, jsonRpc: JsonRpcCode.INTERNAL_ERROR, exit: 8 },
  REQUEST_STATE_INVALID: { http: 400, jsonRpc: JsonRpcCode.INVALID_PARAMS, exit: 1 },
  STORE_UNAVAILABLE: { http: 503, jsonRpc: JsonRpcCode.CHILD_UNAVAILABLE, exit: 9 },
  NODE_UNAVAILABLE: { http: 503, jsonRpc: JsonRpcCode.CHILD_UNAVAILABLE, exit: 9 },
  INTERNAL: { http: 500, jsonRpc: JsonRpcCode.INTERNAL_ERROR, exit: 1 },
};

export interface McpTenantsErrorOptions {
  cause?: unknown;
  /** Extra machine-readable detail, sent as JSON-RPC `error.data`. */
  data?: Record<string, unknown>;
}

export class McpTenantsError extends Error {
  override readonly name = 'McpTenantsError';
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: McpTenantsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data;
  }

  get httpStatus(): number {
    return mapping[this.code].http;
  }

  get jsonRpcCode(): number {
    return mapping[this.code].jsonRpc;
  }

  get exitCode(): number {
    return mapping[this.code].exit;
  }
}

export function isMcpTenantsError(value: unknown): value is McpTenantsError {
  return value instanceof McpTenantsError;
}

/** Wraps anything thrown into an McpTenantsError, keeping the original as cause. */
export function toMcpTenantsError(value: unknown): McpTenantsError {
  if (value instanceof McpTenantsError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new McpTenantsError(ErrorCode.INTERNAL, message, { cause: value });
}

/** The JSON-RPC error answer for anything thrown; an McpTenantsError keeps its code in `data.code`. */
export function errorFrom(id: JsonRpcId | null, error: unknown): JsonRpcResponse {
  if (error instanceof McpTenantsError) {
    return errorResponse(id, error.jsonRpcCode, error.message, { code: error.code, ...error.data });
  }
  const message = error instanceof Error ? error.message : String(error);
  return errorResponse(id, JsonRpcCode.INTERNAL_ERROR, message);
}
