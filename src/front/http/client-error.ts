import type { Duplex } from 'node:stream';
import { JsonRpcCode } from '../../core/errors.js';
import { errorResponse } from '../../core/jsonrpc.js';

/**
 * Requests Node's HTTP parser refuses before any handler runs (headers too
 * large, bytes that are not HTTP, a header timeout) still get a JSON-RPC
 * error body a client can show, then the connection closes. Node's own
 * answer would be a bare status line.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // Mid-answer (a response already started on this connection) there is no
  // clean way to say it: just close, as Node itself does.
  const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || error.code === 'ECONNRESET' || inProgress?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, message] = describe(error.code);
  const body = JSON.stringify(
    errorResponse(null, JsonRpcCode.INVALID_REQUEST, message, { code: 'BAD_REQUEST' }),
  );
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  // A client that keeps the connection open must not hold it.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function describe(code: string | undefined): [number, string, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', 'request headers are too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', 'the request was not received in time'];
    default:
      return [400, 'Bad Request', 'the request is not valid HTTP'];
  }
}
