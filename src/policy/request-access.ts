import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { JsonRpcRequest } from '../core/jsonrpc.js';
import type { PermissionKind } from './access.js';

/** The one tool, resource or prompt a request uses, which the caller must be allowed. */
export interface RequestedAccess {
  kind: PermissionKind;
  name: string;
  /** A resource template (completion of its arguments), not one URI. */
  template?: boolean;
}

/**
 * What a request needs. `tools/call`, `prompts/get`, `resources/read` and
 * `resources/subscribe` name one thing; so does `completion/complete` (the
 * prompt or resource template it completes). Every other method needs no
 * permission: lists are filtered instead, and `ping`, `logging/setLevel`,
 * `resources/unsubscribe` and the like touch nothing of the tenant's.
 * Resource URIs are held to `maxUriLength` characters.
 */
export function requestedAccess(
  request: JsonRpcRequest,
  maxUriLength: number,
): RequestedAccess | undefined {
  const params = request.params;
  const uri = (value: unknown, field: string) =>
    withinLength(request, required(request, value, field), maxUriLength);
  switch (request.method) {
    case 'tools/call':
      return { kind: 'tools', name: required(request, params?.name, 'name') };
    case 'prompts/get':
      return { kind: 'prompts', name: required(request, params?.name, 'name') };
    case 'resources/read':
    case 'resources/subscribe':
      return { kind: 'resources', name: uri(params?.uri, 'uri') };
    case 'completion/complete': {
      const ref = params?.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
      if (ref?.type === 'ref/prompt') {
        return { kind: 'prompts', name: required(request, ref.name, 'ref.name') };
      }
      if (ref?.type === 'ref/resource') {
        return { kind: 'resources', name: uri(ref.uri, 'ref.uri'), template: true };
      }
      throw invalid(request, 'ref must be a ref/prompt or ref/resource');
    }
    default:
      return undefined;
  }
}

// Without the name, policy cannot decide: refuse rather than let the child guess.
function required(request: JsonRpcRequest, value: unknown, field: string): string {
  if (typeof value === 'string' && value !== '') return value;
  throw invalid(request, `params.${field} must be a non-empty string`);
}

/**
 * A resource URI is an address, not a payload: one longer than `max`
 * characters is refused before any glob is matched against it or a
 * subscription keeps it (`server.max_uri_length`).
 */
function withinLength(request: JsonRpcRequest, uri: string, max: number): string {
  if (uri.length <= max) return uri;
  throw new McpTenantsError(
    ErrorCode.USAGE,
    `invalid ${request.method} request: the resource URI is ${uri.length} characters long, ` +
      `over the limit of ${max} (server.max_uri_length)`,
    { data: { limit: max, length: uri.length } },
  );
}

function invalid(request: JsonRpcRequest, reason: string): McpTenantsError {
  return new McpTenantsError(ErrorCode.USAGE, `invalid ${request.method} request: ${reason}`);
}
