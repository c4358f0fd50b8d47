import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenantContext } from '../../auth/context.js';
import type { TokenBindings } from '../../auth/token-bindings.js';
import { errorFrom, JsonRpcCode } from '../../core/errors.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../../core/jsonrpc.js';
import { checkStatelessRequest } from '../../relay/stateless-checks.js';
import { openListenStream, serveStatelessRequest } from '../../relay/stateless-request.js';
import type { TenantRelay } from '../../relay/tenant-relay.js';
import type { TracedRequest } from '../../telemetry/tracing.js';
import { headerValue } from './request-headers.js';
import { sendJson } from './respond.js';
import { ResponseChannel } from './response-channel.js';
import { SseStream } from './sse.js';
import type { UnreadBudget } from './unread-budget.js';

/** Proxies must not hold back event streams (2026-07-28 asks for this header). */
const STREAM_HEADERS = { 'x-accel-buffering': 'no' };

/** One stateless POST, as the endpoint read it. */
export interface StatelessPost {
  request: IncomingMessage;
  response: ServerResponse;
  message: JsonRpcRequest;
  /** The tenant's shared relay. */
  relay: TenantRelay;
  caller: TenantContext;
  acceptsSse: boolean;
  tokens: TokenBindings;
  /** The front's budget of unread bytes, which these streams count in. */
  unread?: UnreadBudget | undefined;
  /** The request's trace, when tracing is on; the endpoint ends it after this returns. */
  trace?: TracedRequest | undefined;
}

/**
 * One POST of the stateless revision 2026-07-28: no session; the request's
 * `_meta` says who and what, and its mirrored headers must agree with the body.
 */
export async function handleStatelessRequest(post: StatelessPost): Promise<void> {
  const { request, response, message, relay, caller, acceptsSse, tokens, unread, trace } = post;
  const refused = checkStatelessRequest(message, {
    version: headerValue(request, 'mcp-protocol-version'),
    method: headerValue(request, 'mcp-method'),
    name: decodeHeaderValue(headerValue(request, 'mcp-name')),
  });
  if (refused) {
    // A refused envelope is 400, a removed method 404 (2026-07-28, Streamable HTTP).
    trace?.end(refused);
    sendJson(response, statusFor(refused) === 404 ? 404 : 400, refused);
    return;
  }
  if (message.method === 'subscriptions/listen') {
    // The stream opens with the acknowledgement, so a listen that cannot
    // start (no child, refused subscription) is still a plain HTTP error.
    let stream: SseStream | undefined;
    const listen = await openListenStream(relay, message, caller, (note) => {
      stream ??= new SseStream(response, STREAM_HEADERS, 'close', unread);
      return stream.send(note);
    });
    // A stateless child may end the stream itself (it stopped): so do we.
    void listen.ended?.then((end) => {
      if (!end) return;
      stream?.send(end, true);
      stream?.end();
    });
    const keepAlive = setInterval(() => stream?.keepAlive(), 25_000);
    keepAlive.unref();
    const unbind = tokens.bind(caller, (error) => {
      stream?.send(errorFrom(message.id, error), true);
      stream?.end();
    });
    response.once('close', () => {
      clearInterval(keepAlive);
      unbind();
      listen.close();
    });
    return;
  }
  const channel = new ResponseChannel(response, acceptsSse, STREAM_HEADERS, unread);
  // Closing the response stream is this revision's cancellation.
  const cancel = new AbortController();
  response.once('close', () => {
    if (!response.writableEnded) cancel.abort();
  });
  const answer = await serveStatelessRequest(
    relay,
    message,
    caller,
    (note) => channel.push(note),
    cancel.signal,
  );
  trace?.end(answer);
  channel.finish(answer, statusFor(answer));
}

/**
 * The HTTP status of a stateless answer: a method no one knows is 404, a
 * missing client capability 400 (the revision says so of the error itself);
 * everything else a child or the relay answers stays in-band on 200.
 */
function statusFor(answer: JsonRpcResponse): number {
  if (!('error' in answer)) return 200;
  switch (answer.error.code) {
    case JsonRpcCode.METHOD_NOT_FOUND:
      return 404;
    case JsonRpcCode.MISSING_REQUIRED_CLIENT_CAPABILITY:
      return 400;
    default:
      return 200;
  }
}

/** `=?base64?...?=` carries values that are not plain header-safe ASCII. */
export function decodeHeaderValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^=\?base64\?([A-Za-z0-9+/=]*)\?=$/.exec(value);
  return match ? Buffer.from(match[1] ?? '', 'base64').toString('utf8') : value;
}
