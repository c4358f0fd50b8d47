import { ErrorCode, McpTenantsError } from '../core/errors.js';

/** Longest key, in characters (UTF-16 code units, as JSON Schema counts them). */
export const MAX_KEY_LENGTH = 512;
/** Largest value, in UTF-8 bytes. */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** Page size of `data_list`. */
export const LIST_PAGE_SIZE = 100;
/** Most keys listed as resources, and most rows one `list()` call returns. */
export const MAX_LIST_LIMIT = 1000;

// \p{Cc}: C0, DEL and C1 controls. A lone surrogate (matched only with the u flag)
// would be silently replaced by U+FFFD in SQLite, so the key would not round-trip.
const CONTROL_OR_LONE_SURROGATE = /[\p{Cc}\uD800-\uDFFF]/u;

export function validateKey(key: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw usage(`key must be 1 to ${MAX_KEY_LENGTH} characters long (got ${key.length})`);
  }
  if (CONTROL_OR_LONE_SURROGATE.test(key)) {
    throw usage(`key ${JSON.stringify(key)} contains a control character or a lone surrogate`);
  }
  // A URL parser folds "." and ".." path segments away, so no resource URI could name them.
  if (key === '.' || key === '..') {
    throw usage(`key ${JSON.stringify(key)} is reserved: "." and ".." cannot be resource URIs`);
  }
}

/** Returns the value's size in UTF-8 bytes. */
export function validateValue(value: string): number {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_VALUE_BYTES) {
    throw usage(`value is ${bytes} bytes; the largest value is ${MAX_VALUE_BYTES} bytes (1 MiB)`);
  }
  if (/[\uD800-\uDFFF]/u.test(value)) {
    throw usage('value contains a lone surrogate, which is not valid UTF-8');
  }
  return bytes;
}

export function validatePrefix(prefix: string): void {
  if (prefix.length > MAX_KEY_LENGTH) {
    throw usage(`prefix must be at most ${MAX_KEY_LENGTH} characters long (got ${prefix.length})`);
  }
}

function usage(message: string): McpTenantsError {
  return new McpTenantsError(ErrorCode.USAGE, message);
}
