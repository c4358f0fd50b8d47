import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { ADMIN_PERMISSION, OPERATOR_PERMISSION } from '../core/permissions.js';

/** What `mcp-tenants token` grants when `--permissions` is not given. */
export const DEFAULT_PERMISSIONS: readonly string[] = Object.freeze([
  'tools:*',
  'resources:*',
  'prompts:*',
]);

// Globs are matched by the policy layer; here we only require a kind and a
// non-empty pattern without whitespace (resource globs may hold URIs).
const SCOPED_PERMISSION = /^(tools|resources|prompts):\S+$/;

/** True for `admin` and `<tools|resources|prompts>:<glob>`. */
export function isValidPermission(entry: string): boolean {
  return entry === ADMIN_PERMISSION || SCOPED_PERMISSION.test(entry);
}

/** Parses `--permissions` ("tools:search_*, resources:*"), duplicates dropped. */
export function parsePermissionList(text: string): string[] {
  const entries = text.split(',').map((entry) => entry.trim());
  const result: string[] = [];
  for (const entry of entries) {
    if (!isValidPermission(entry)) throw badPermission(entry);
    if (!result.includes(entry)) result.push(entry);
  }
  return result;
}

function badPermission(entry: string): McpTenantsError {
  if (entry === '') {
    return new McpTenantsError(
      ErrorCode.USAGE,
      'invalid permission list: empty entry (use e.g. "tools:*,resources:*")',
    );
  }
  const hint =
    entry === OPERATOR_PERMISSION
      ? 'operator tokens are made with --operator'
      : 'use admin, tools:<glob>, resources:<glob> or prompts:<glob>';
  return new McpTenantsError(ErrorCode.USAGE, `invalid permission "${entry}": ${hint}`);
}
