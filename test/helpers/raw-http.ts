import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

export interface PlainResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: { error?: { code: number; message: string; data?: { code?: string } } } | undefined;
}

/**
 * One HTTP request through node:http, which (unlike fetch) lets a test set
 * Host and send header values with spaces or Latin-1 bytes.
 */
export function plainRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'POST', headers: options.headers ?? {} },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            text,
            json: parseJson(text),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * Writes raw bytes to the server and collects everything it answers until
 * it closes. With `streamBody`, keeps sending that many bytes of a chunked
 * body after `head`, and stops sending as soon as an answer arrives (as curl
 * and browsers do); the socket is closed once the answer is complete.
 */
export function rawExchange(
  port: number,
  head: string,
  streamBody?: { bytes: number; chunkBytes: number },
): Promise<{ answer: string; sentBytes: number; error: string | undefined }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let sentBytes = 0;
    let error: string | undefined;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      answered = true;
      // A complete JSON answer (headers + body): done, as a client would be.
      const body = answer.split('\r\n\r\n')[1];
      const length = /content-length: (\d+)/i.exec(answer)?.[1];
      if (body !== undefined && length !== undefined && Buffer.byteLength(body) >= Number(length)) {
        socket.end();
      }
    });
    socket.on('error', (cause: NodeJS.ErrnoException) => {
      error = cause.code;
    });
    socket.on('close', () => resolve({ answer, sentBytes, error }));
    socket.write(head);
    if (!streamBody) return;
    const chunk = Buffer.alloc(streamBody.chunkBytes, 'x');
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const pump = (): void => {
      while (!answered && !socket.destroyed && sentBytes < streamBody.bytes) {
        sentBytes += chunk.length;
        if (!socket.write(frame)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!answered && !socket.destroyed) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

/** Status and JSON body of a raw HTTP answer. */
export function parseRawAnswer(answer: string): { status: number; json: PlainResponse['json'] } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  return { status, json: parseJson(answer.split('\r\n\r\n').slice(1).join('\r\n\r\n')) };
}

function parseJson(text: string): PlainResponse['json'] {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Resident memory of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

/** Sends `head` and then never reads the answer: a client that stalls. */
export function stalledClient(port: number, head: string): { close(): void } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(head);
  socket.pause();
  return { close: () => socket.destroy() };
}

/**
 * Sends `head`, waits for the first bytes of the answer (the status line and
 * headers of an event stream), then never reads again: a client whose stream
 * is open and stalled. Resolves with the status the server answered.
 */
export function stalledStream(
  port: number,
  head: string,
): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0);
      resolve({ status, close: () => socket.destroy() });
    });
    socket.write(head);
  });
}

/** A GET event stream of a session, read in the background until `close()`. */
export async function openEventStream(url: string, token: string, session: string) {
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: {
      authorization: `Bearer ${token}`,
      'mcp-session-id': session,
      accept: 'text/event-stream',
    },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body) {
    throw new Error(`GET stream answered ${response.status}`);
  }
  let text = '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => {});
  return {
    text: () => text,
    /** Resolves when the server ends the stream (or it is closed here). */
    ended: reading,
    async close() {
      abort.abort();
      await reading;
    },
  };
}
