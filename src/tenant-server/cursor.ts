import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { MAX_KEY_LENGTH } from './limits.js';

/**
 * Keyset pagination: a cursor is the last key of the previous page, opaque to
 * clients (base64url) so nobody builds one by hand or relies on its shape.
 */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const key = /^[A-Za-z0-9_-]+$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  if (key === '' || key.length > MAX_KEY_LENGTH || encodeCursor(key) !== cursor) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      'invalid cursor: pass the nextCursor of a previous data_list call unchanged',
    );
  }
  return key;
}

/**
 * The smallest string above every string that starts with `prefix`, so a prefix
 * becomes an index range [prefix, bound). SQLite's BINARY collation compares
 * UTF-8 bytes, whose order is code point order, so bumping the last code point
 * is enough. Undefined when no such string exists (prefix of U+10FFFF only).
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0) ?? 0);
  while (codePoints.length > 0) {
    const last = codePoints.pop() ?? 0;
    if (last < 0x10ffff) {
      // Skip the surrogate block: those code points never appear in valid UTF-8.
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1);
      return String.fromCodePoint(...codePoints);
    }
  }
  return undefined;
}
