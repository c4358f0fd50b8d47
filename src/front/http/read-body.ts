import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';

/**
 * Reads a request body up to `maxBytes`. A body announced or found to be
 * larger is refused while it streams, so memory stays flat whatever the
 * client sends; `tooLarge` tells the caller to answer 413 and close.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(
        new McpTenantsError(ErrorCode.BAD_REQUEST, 'request body was not received', {
          cause: error,
        }),
      );
    };
    const cleanup = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

function tooLarge(maxBytes: number): McpTenantsError {
  return new McpTenantsError(
    ErrorCode.BODY_TOO_LARGE,
    `request body is larger than ${maxBytes} bytes (server.max_body_bytes)`,
  );
}

export interface DrainLimits {
  /** Bytes read and discarded at most before the connection is cut. */
  maxBytes: number;
  /** Time the client gets at most to stop sending. */
  maxMs: number;
}

/**
 * After refusing a body: answer, then hang up without losing the answer.
 * Closing a socket with the client's bytes still unread makes the kernel send
 * a reset, and a client still sending then drops the 413 it was about to
 * read. So the answer says `Connection: close` and our side is shut after it
 * (FIN); what the client still sends is read and discarded up to `maxBytes`,
 * then no longer read, so a client that keeps sending blocks and reads the
 * answer. The socket closes once the client has stopped, or after `maxMs`.
 */
export function drainThenClose(
  request: IncomingMessage,
  response: ServerResponse,
  limits: DrainLimits,
): void {
  const socket = request.socket;
  response.setHeader('connection', 'close');
  let answered = false;
  let clientDone = false;
  const close = (): void => {
    clearTimeout(timer);
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  };
  const timer = setTimeout(close, limits.maxMs);
  timer.unref();
  const onClientDone = (): void => {
    clientDone = true;
    if (answered) close();
  };
  // Node closes a `Connection: close` socket as soon as the answer is written
  // (destroySoon); shut only our side then, and close once the client is done.
  socket.destroySoon = () => {
    answered = true;
    socket.end();
    if (clientDone) close();
  };
  let discarded = 0;
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > limits.maxBytes) request.pause();
  });
  request.once('end', onClientDone);
  socket.once('end', onClientDone);
  socket.once('close', () => clearTimeout(timer));
  request.resume();
}
