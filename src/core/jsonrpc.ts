/**
 * JSON-RPC 2.0 message shapes as they cross the relay. The relay reads only
 * what it must route (id, method, a few params) and passes the rest through
 * untouched, so messages of MCP revisions it does not know still work.
 */

export type JsonRpcId = string | number;
export type JsonObject = Record<string, unknown>;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: JsonObject;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonObject;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: JsonObject;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type MessageKind = 'request' | 'notification' | 'response';

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
}

/**
 * Longest method name taken from a client or a child. MCP's methods are a
 * few dozen characters; a longer one can only be an attack on whatever
 * keeps method names (metrics labels, logs, the audit trail).
 */
export const MAX_METHOD_LENGTH = 256;

/** The members each kind may have. MCP peers (the SDKs) drop a message with any other. */
const MEMBERS: Record<MessageKind, ReadonlySet<string>> = {
  request: new Set(['jsonrpc', 'id', 'method', 'params']),
  notification: new Set(['jsonrpc', 'method', 'params']),
  response: new Set(['jsonrpc', 'id', 'result', 'error']),
};

/**
 * Classifies a parsed value, or returns a reason why it is not a JSON-RPC 2.0
 * message. Only shape is checked; method names are the child's business.
 * A member JSON-RPC does not define is refused here: relayed, it would make
 * the peer drop the message silently, and its sender wait for a timeout.
 */
export function classifyMessage(value: unknown): MessageKind | { invalid: string } {
  const kind = classifyShape(value);
  if (typeof kind !== 'string') return kind;
  const allowed = MEMBERS[kind];
  const extra = Object.keys(value as JsonObject).find((member) => !allowed.has(member));
  if (extra !== undefined) {
    return { invalid: `a JSON-RPC ${kind} cannot have a member ${JSON.stringify(extra)}` };
  }
  return kind;
}

function classifyShape(value: unknown): MessageKind | { invalid: string } {
  if (!isObject(value)) return { invalid: 'a JSON-RPC message must be a JSON object' };
  if (value.jsonrpc !== '2.0') return { invalid: 'jsonrpc must be "2.0"' };
  if ('method' in value) {
    if (typeof value.method !== 'string' || value.method === '') {
      return { invalid: 'method must be a non-empty string' };
    }
    if (value.method.length > MAX_METHOD_LENGTH) {
      return { invalid: `method must be at most ${MAX_METHOD_LENGTH} characters` };
    }
    if ('params' in value && value.params !== undefined && !isObject(value.params)) {
      return { invalid: 'params must be an object' };
    }
    if (!('id' in value)) return 'notification';
    if (!isId(value.id)) return { invalid: 'id must be a string or an integer' };
    return 'request';
  }
  if ('result' in value || 'error' in value) {
    if (!(isId(value.id) || (value.id === null && 'error' in value))) {
      return { invalid: 'id must be a string or an integer' };
    }
    if ('result' in value && 'error' in value) {
      return { invalid: 'a response has a result or an error, not both' };
    }
    if ('error' in value) {
      const error = value.error;
      if (!isObject(error)) return { invalid: 'error must be an object' };
      // JSON-RPC 2.0 §5.1; everything that records or shows an error relies on it.
      if (!Number.isInteger(error.code) || typeof error.message !== 'string') {
        return { invalid: 'error must have an integer code and a string message' };
      }
    }
    if ('result' in value && !isObject(value.result))
      return { invalid: 'result must be an object' };
    return 'response';
  }
  return { invalid: 'a JSON-RPC message needs a method, a result or an error' };
}

export function errorResponse(
  id: JsonRpcId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcFailure {
  const error: JsonRpcErrorObject = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}

export function isResponse(message: JsonRpcMessage): message is JsonRpcResponse {
  return !('method' in message);
}

export function isRequest(message: JsonRpcMessage): message is JsonRpcRequest {
  return 'method' in message && 'id' in message;
}

/** `params._meta`, created on demand, for progress tokens and identity. */
export function metaOf(params: JsonObject | undefined): JsonObject | undefined {
  const meta = params?._meta;
  return isObject(meta) ? meta : undefined;
}
