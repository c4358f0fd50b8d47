import { parseBoundedJson, refusedEnvelope } from '../core/bounded-json.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { classifyMessage, type JsonRpcId, type JsonRpcMessage } from '../core/jsonrpc.js';
import { noteWireBytes } from '../core/wire-bytes.js';

/** One text a client sent: its message, or why it is refused and the id to answer under. */
export type ClientMessage =
  | { message: JsonRpcMessage }
  | { refused: McpTenantsError; id: JsonRpcId | null };

/**
 * Reads one JSON-RPC message a client sent (an HTTP body, a stdio line) of
 * `bytes` bytes: nested at most `maxDepth` deep, one message (no batch), of
 * a shape JSON-RPC defines. A refusal names the request it answers when its
 * id can be read, even from a text too deep to parse.
 */
export function readClientMessage(text: string, bytes: number, maxDepth: number): ClientMessage {
  let value: unknown;
  try {
    value = parseBoundedJson(text, maxDepth);
  } catch (error) {
    if (error instanceof McpTenantsError) {
      const { id, hasMethod } = refusedEnvelope(text);
      return { refused: error, id: hasMethod ? id : null };
    }
    return {
      refused: new McpTenantsError(ErrorCode.PARSE_ERROR, 'message is not valid JSON', {
        cause: error,
      }),
      id: null,
    };
  }
  if (Array.isArray(value)) {
    return {
      refused: new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        'JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message at a time',
      ),
      id: null,
    };
  }
  const kind = classifyMessage(value);
  if (typeof kind !== 'string') {
    const id = (value as { id?: unknown } | null)?.id;
    return {
      refused: new McpTenantsError(
        ErrorCode.BAD_REQUEST,
        `invalid JSON-RPC message: ${kind.invalid}`,
      ),
      id: typeof id === 'string' || typeof id === 'number' ? id : null,
    };
  }
  const message = value as JsonRpcMessage;
  noteWireBytes(message, bytes);
  return { message };
}
