import type { JsonRpcMessage } from './jsonrpc.js';

/**
 * Sizes of messages as they entered the supervisor (an HTTP body, a stdio
 * line, a child's stdout line), looked up by the parsed object. Telemetry
 * records sizes, never messages: with the size known at entry, it neither
 * serialises a message again nor keeps one until the batch is written.
 * Entries go with their message (a WeakMap).
 */
const entered = new WeakMap<object, number>();

/**
 * Notes the bytes `message` had on the wire. Its result, error or params
 * object carries the size too: the relay restores a client's id, or routes
 * a notification, in a shallow copy of the message that shares that object.
 */
export function noteWireBytes(message: object, bytes: number): void {
  entered.set(message, bytes);
  const body = payloadOf(message);
  if (body !== undefined) entered.set(body, bytes);
}

/**
 * The size of a message in bytes: as it entered when known, else as it
 * serialises now. Never throws; a message that cannot be serialised counts 0.
 */
export function wireBytes(message: JsonRpcMessage): number {
  const known = entered.get(message) ?? lookupPayload(message);
  if (known !== undefined) return known;
  try {
    return Buffer.byteLength(JSON.stringify(message) ?? '', 'utf8');
  } catch {
    return 0;
  }
}

function lookupPayload(message: object): number | undefined {
  const body = payloadOf(message);
  return body === undefined ? undefined : entered.get(body);
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
