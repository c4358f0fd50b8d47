import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, McpTenantsError } from '../core/errors.js';

const PREFIX = 'mt1.';

export interface CursorPosition {
  /** The child's own cursor for the page. */
  childCursor: string;
  /** How many items the child listed before this page (for the max_tools/max_resources cut). */
  offset: number;
}

/**
 * Cursors of filtered lists. The supervisor hands out its own cursor,
 * wrapping the child's together with how many items came before, so that
 * the cap can cut the listing at the same place on every page. The cursor
 * is signed (HMAC with a key of this process), so a client cannot move the
 * cut by editing it; after a restart, old cursors are refused and the
 * client lists again from the start.
 */
export class ListCursors {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  wrap(scope: string, position: CursorPosition): string {
    const payload = Buffer.from(JSON.stringify([position.childCursor, position.offset])).toString(
      'base64url',
    );
    return `${PREFIX}${payload}.${this.mac(scope, payload)}`;
  }

  /** The position a cursor we issued stands for; USAGE (invalid params) for anything else. */
  unwrap(scope: string, cursor: unknown): CursorPosition {
    if (typeof cursor !== 'string' || !cursor.startsWith(PREFIX)) throw invalidCursor();
    const [payload = '', mac = ''] = cursor.slice(PREFIX.length).split('.');
    const expected = Buffer.from(this.mac(scope, payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalidCursor();
    }
    const [childCursor, offset] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return { childCursor: String(childCursor), offset: Number(offset) };
  }

  private mac(scope: string, payload: string): string {
    return createHmac('sha256', this.key).update(`${scope}\u0000${payload}`).digest('base64url');
  }
}

function invalidCursor(): McpTenantsError {
  return new McpTenantsError(
    ErrorCode.USAGE,
    'invalid or expired cursor: pass back the nextCursor of the previous page, or list again from the start',
  );
}
