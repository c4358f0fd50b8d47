import type { IncomingMessage } from 'node:http';
import { ErrorCode, McpTenantsError } from '../../errors.js';

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

/**
 * After refusing a body, keep reading (and discarding) a bounded amount so
 * that a client still sending actually receives the 413, then hang up.
 */
export function drainThenClose(request: IncomingMessage, maxDiscardBytes: number): void {
  let discarded = 0;
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxDiscardBytes) request.socket.destroy();
  });
  request.resume();
}
