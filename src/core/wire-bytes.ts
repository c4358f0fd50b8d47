import type { JsonRpcMessage } from './jsonrpc.js';

/**
 * Sizes of messages as they entered the supervisor (an HTTP body, a stdio
 * line, a child's stdout line), kept on the parsed object itself. Telemetry
 * records sizes, never messages: with the size known at entry, it neither
 * serialises a message again nor keeps one until the batch is written.
 *
 * The size sits under a symbol, not enumerable: JSON never writes it, a
 * spread copy does not take it, and test equality ignores it. A WeakMap did
 * the same at about three times the cost per message, most of it in GC.
 */
const BYTES = Symbol('mcp-tenants.wire-bytes');

type Sized = { [BYTES]?: number };

/**
 * Notes the bytes `message` had on the wire. Its result, error or params
 * object carries the size too: the relay restores a client's id, or routes
 * a notification, in a shallow copy of the message that shares that object.
 */
export function noteWireBytes(message: object, bytes: number): void {
  mark(message, bytes);
  const body = payloadOf(message);
  if (body !== undefined) mark(body, bytes);
}

function mark(target: object, bytes: number): void {
  if (BYTES in target) (target as Sized)[BYTES] = bytes;
  else if (Object.isExtensible(target)) {
    Object.defineProperty(target, BYTES, { value: bytes, writable: true });
  }
}

/**
 * The size of a message in bytes: as it entered when known, else as it
 * serialises now. Never throws; a message that cannot be serialised counts 0.
 */
export function wireBytes(message: JsonRpcMessage): number {
  const known = (message as Sized)[BYTES] ?? lookupPayload(message);
  if (known !== undefined) return known;
  try {
    return Buffer.byteLength(JSON.stringify(message) ?? '', 'utf8');
  } catch {
    return 0;
  }
}

function lookupPayload(message: object): number | undefined {
  const body = payloadOf(message);
  return body === undefined ? undefined : (body as Sized)[BYTES];
}

function payloadOf(message: object): object | undefined {
  const body =
    'method' in message
      ? 'params' in message
        ? message.params
        : undefined
      : 'result' in message
        ? message.result
        : 'error' in message
          ? message.error
          : undefined;
  return typeof body === 'object' && body !== null ? body : undefined;
}
