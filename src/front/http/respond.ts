import type { ServerResponse } from 'node:http';
import { ErrorCode, type McpTenantsError, toMcpTenantsError } from '../../errors.js';
import { errorResponse, type JsonRpcId } from '../../relay/jsonrpc.js';

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/**
 * The one place HTTP errors become responses: status from the error code,
 * a JSON-RPC error body clients can show, and the headers the status needs.
 */
export function sendError(
  response: ServerResponse,
  error: unknown,
  context: { id?: JsonRpcId | null; resourceMetadataUrl?: string } = {},
): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const failure = toMcpTenantsError(error);
  const headers: Record<string, string> = {};
  if (failure.code === ErrorCode.AUTH_MISSING || failure.code === ErrorCode.AUTH_INVALID) {
    headers['www-authenticate'] = wwwAuthenticate(failure, context.resourceMetadataUrl);
  }
  if (failure.code === ErrorCode.METHOD_NOT_ALLOWED) headers.allow = 'GET, POST, DELETE';
  sendJson(
    response,
    failure.httpStatus,
    errorResponse(context.id ?? null, failure.jsonRpcCode, failure.message, {
      code: failure.code,
      ...failure.data,
    }),
    headers,
  );
}

/** RFC 6750 §3 challenge, with the RFC 9728 metadata pointer MCP clients look for. */
function wwwAuthenticate(error: McpTenantsError, resourceMetadataUrl: string | undefined): string {
  const parts = ['Bearer realm="mcp-tenants"'];
  if (resourceMetadataUrl) parts.push(`resource_metadata="${resourceMetadataUrl}"`);
  if (error.code === ErrorCode.AUTH_INVALID) {
    parts.push('error="invalid_token"', `error_description="${quote(error.message)}"`);
  }
  return parts.join(', ');
}

function quote(text: string): string {
  return text.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '');
}
