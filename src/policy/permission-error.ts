import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Caller } from '../core/pipeline.js';
import type { PermissionKind, Refusal } from './access.js';

const NOUN: Record<PermissionKind, string> = {
  tools: 'tool',
  resources: 'resource',
  prompts: 'prompt',
};

/** Shown in a refusal: enough of the token's grants to see what is missing. */
const MAX_LISTED = 5;

/**
 * FORBIDDEN (JSON-RPC `JsonRpcCode.FORBIDDEN`), naming the permission that is missing and who
 * withholds it. `error.data.required_permission` carries it for programs.
 */
export function permissionDenied(
  tenantId: string,
  caller: Caller,
  kind: PermissionKind,
  name: string,
  refusal: Refusal,
): McpTenantsError {
  const required = `${kind}:${name}`;
  const what = `${NOUN[kind]} ${JSON.stringify(name)}`;
  let message: string;
  if (refusal === 'token') {
    const own = caller.permissions.filter((entry) => entry.startsWith(`${kind}:`));
    const listed = own.slice(0, MAX_LISTED).join(', ') + (own.length > MAX_LISTED ? ', ...' : '');
    message =
      `permission denied: ${what} needs the permission "${required}", which this token does not grant ` +
      `(its ${kind} permissions: ${listed || 'none'}); ask for a token that includes it`;
  } else if (refusal === 'tenant_deny') {
    message = `permission denied: ${what} is denied to every caller of tenant ${tenantId} (${kind}.deny in the manifest)`;
  } else {
    message = `permission denied: ${what} is not in the ${kind}.allow list of tenant ${tenantId} in the manifest`;
  }
  return new McpTenantsError(ErrorCode.FORBIDDEN, message, {
    data: {
      required_permission: required,
      denied_by: refusal === 'token' ? 'token' : 'tenant_policy',
    },
  });
}
