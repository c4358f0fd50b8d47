import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, INITIALIZE, rawSession, textOf } from '../helpers/mcp-client.js';
import {
  type PlainResponse,
  parseRawAnswer,
  plainRequest,
  rawExchange,
  rssBytes,
} from '../helpers/raw-http.js';
import {
  adminStatus,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

/**
 * Every request here is wrong in one way. Each must get its precise status
 * and JSON-RPC error, must never reach the tenant's child (the recorder
 * fixture logs every line it reads; none may carry "hostile"), and must leave
 * the supervisor and a neighbour session working.
 */
describe('HTTP front: hostile input', () => {
  const MAX_BODY = 65_536;
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let neighbour: Client;
  let token: string;
  let session: string;
  let childPid: number;
  let port: number;
  let neighbourCalls = 0;

  const call = (text: string) => ({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'echo', arguments: { text } },
  });

  async function recorderPid(): Promise<number> {
    const health = await adminStatus(serve.url, workspace);
    return health.tenants.find((tenant) => tenant.id === 'rec')?.pid ?? 0;
  }

  function received(): string {
    return readFileSync(join(workspace.dir, 'data', 'rec', 'received.log'), 'utf8');
  }

  /** POST /mcp as the recorder tenant's client, with the right headers unless overridden. */
  function post(body: unknown, headers: Record<string, string> = {}): Promise<PlainResponse> {
    return plainRequest(serve.url, {
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  function expectRefused(
    response: PlainResponse | { status: number; json: PlainResponse['json'] },
    status: number,
    rpcCode: number,
    code: string,
    message?: RegExp,
  ): void {
    expect(response.status).toBe(status);
    expect(response.json?.error?.code).toBe(rpcCode);
    expect(response.json?.error?.data?.code).toBe(code);
    if (message) expect(response.json?.error?.message).toMatch(message);
  }

  beforeAll(async () => {
    workspace = createWorkspace(
      { rec: fixture('recorder.mjs'), acme: {} },
      { max_body_bytes: MAX_BODY },
    );
    serve = await startServe(workspace.manifestPath);
    port = Number(new URL(serve.url).port);
    token = await workspace.token('rec');
    neighbour = await connectHttp(serve.url, token);
    expect(textOf(await neighbour.callTool({ name: 'echo', arguments: { text: 'warm' } }))).toBe(
      'warm',
    );
    session = await rawSession(serve.url, token);
    childPid = await recorderPid();
    expect(childPid).toBeGreaterThan(0);
  });

  afterEach(async () => {
    // The supervisor, the child and a neighbour session carry on as before.
    neighbourCalls += 1;
    const text = `neighbour-${neighbourCalls}`;
    expect(textOf(await neighbour.callTool({ name: 'echo', arguments: { text } }))).toBe(text);
    expect(await recorderPid()).toBe(childPid);
    expect(received()).not.toMatch(/hostile/);
  });

  afterAll(async () => {
    await neighbour?.close();
    // Guarded: when beforeAll failed, its error is the one to see, and the folder still goes.
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  it('refuses bodies that are not one JSON-RPC message', async () => {
    const cases: [unknown, number, string, RegExp][] = [
      [JSON.stringify(call('hostile')).slice(0, -1), -32700, 'PARSE_ERROR', /not valid JSON/],
      ['', -32700, 'PARSE_ERROR', /not valid JSON/],
      ['"hostile"', -32600, 'BAD_REQUEST', /must be a JSON object/],
      [{ ...call('hostile'), jsonrpc: '1.0' }, -32600, 'BAD_REQUEST', /jsonrpc must be "2.0"/],
      [{ ...call('hostile'), jsonrpc: undefined }, -32600, 'BAD_REQUEST', /jsonrpc must be/],
      [{ ...call('hostile'), id: { x: 1 } }, -32600, 'BAD_REQUEST', /id must be a string or/],
      [{ ...call('hostile'), id: 1.5 }, -32600, 'BAD_REQUEST', /id must be a string or/],
      [{ ...call('hostile'), id: true }, -32600, 'BAD_REQUEST', /id must be a string or/],
      [{ ...call('hostile'), id: null }, -32600, 'BAD_REQUEST', /id must be a string or/],
      [{ ...call('hostile'), method: 42 }, -32600, 'BAD_REQUEST', /method must be a non-empty/],
      [{ ...call('hostile'), method: '' }, -32600, 'BAD_REQUEST', /method must be a non-empty/],
      [{ ...call('x'), params: ['hostile'] }, -32600, 'BAD_REQUEST', /params must be an object/],
      [[call('hostile')], -32600, 'BAD_REQUEST', /batches are not supported/],
      [[], -32600, 'BAD_REQUEST', /batches are not supported/],
      [{ jsonrpc: '2.0', hostile: true }, -32600, 'BAD_REQUEST', /needs a method, a result/],
      [{ jsonrpc: '2.0', id: 'hostile', result: 7 }, -32600, 'BAD_REQUEST', /result must be/],
      // Members JSON-RPC does not define: the child's SDK would drop the message unanswered.
      [
        { ...call('hostile'), result: {} },
        -32600,
        'BAD_REQUEST',
        /a JSON-RPC request cannot have a member "result"/,
      ],
      [{ ...call('hostile'), extra: 1 }, -32600, 'BAD_REQUEST', /cannot have a member "extra"/],
      [
        { jsonrpc: '2.0', method: 'notifications/hostile', id: undefined, x: 1 },
        -32600,
        'BAD_REQUEST',
        /a JSON-RPC notification cannot have a member "x"/,
      ],
    ];
    for (const [body, rpcCode, code, message] of cases) {
      expectRefused(await post(body), 400, rpcCode, code, message);
    }
  });

  it('refuses a wrong Content-Type, Accept, method or MCP-Protocol-Version', async () => {
    const body = call('hostile');
    expectRefused(
      await post(body, { 'content-type': 'text/plain' }),
      415,
      -32600,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectRefused(
      await post(body, { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      -32600,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expectRefused(await post(body, { accept: 'text/html' }), 406, -32600, 'NOT_ACCEPTABLE');
    expectRefused(
      await post(body, { 'mcp-protocol-version': '1999-01-01' }),
      400,
      -32600,
      'BAD_REQUEST',
      /unsupported MCP-Protocol-Version "1999-01-01"/,
    );
    const stream = await plainRequest(serve.url, {
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, 'mcp-session-id': session, accept: 'text/html' },
    });
    expectRefused(stream, 406, -32600, 'NOT_ACCEPTABLE');
    const put = await plainRequest(serve.url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expectRefused(put, 405, -32600, 'METHOD_NOT_ALLOWED');
    expect(put.headers.allow).toBe('GET, POST, DELETE');
  });

  it('refuses a foreign Origin and an unexpected Host (DNS rebinding)', async () => {
    const body = call('hostile');
    expectRefused(
      await post(body, { origin: 'https://evil.example' }),
      403,
      -30403,
      'ORIGIN_FORBIDDEN',
      /origin "https:\/\/evil.example" is not allowed/,
    );
    expectRefused(await post(body, { origin: 'null' }), 403, -30403, 'ORIGIN_FORBIDDEN');
    expectRefused(
      await post(body, { host: `evil.example:${port}` }),
      403,
      -30403,
      'ORIGIN_FORBIDDEN',
      /host "evil.example:\d+" is not allowed/,
    );
    // Our own origin is fine.
    const own = await post(
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { origin: `http://127.0.0.1:${port}` },
    );
    expect(own.status).toBe(200);
  });

  it('refuses malformed, unknown, deleted and other tenants’ session ids', async () => {
    const body = call('hostile');
    expectRefused(
      await post(body, { 'mcp-session-id': '' }),
      400,
      -32600,
      'BAD_REQUEST',
      /missing Mcp-Session-Id/,
    );
    for (const id of [`${session} x`, `${session}\tx`, 'caf\u00e9', 'x'.repeat(129)]) {
      expectRefused(
        await post(body, { 'mcp-session-id': id }),
        400,
        -32600,
        'BAD_REQUEST',
        /malformed Mcp-Session-Id/,
      );
    }
    // A control character never gets past the HTTP parser; still a JSON answer.
    const control = parseRawAnswer(
      (
        await rawExchange(
          port,
          `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
            `Content-Type: application/json\r\nMcp-Session-Id: ab\x01cd\r\nContent-Length: 2\r\n\r\n{}`,
        )
      ).answer,
    );
    expectRefused(control, 400, -32600, 'BAD_REQUEST', /not valid HTTP/);
    expectRefused(
      await post(body, { 'mcp-session-id': crypto.randomUUID() }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
    // Another tenant's session, and ours presented with another tenant's token: both unknown.
    const acmeToken = await workspace.token('acme');
    const acmeSession = await rawSession(serve.url, acmeToken);
    expectRefused(
      await post(body, { 'mcp-session-id': acmeSession }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
    expectRefused(
      await post(body, { authorization: `Bearer ${acmeToken}` }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
  });

  it('refuses a second initialize on a session, and everything after DELETE', async () => {
    expectRefused(
      await post({ ...INITIALIZE, params: { ...INITIALIZE.params, hostile: true } }),
      400,
      -32600,
      'BAD_REQUEST',
      /already initialized/,
    );
    const doomed = await rawSession(serve.url, token);
    const headers = { authorization: `Bearer ${token}`, 'mcp-session-id': doomed };
    expect((await plainRequest(serve.url, { method: 'DELETE', headers })).status).toBe(200);
    expectRefused(
      await post(call('hostile'), { 'mcp-session-id': doomed }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
    expectRefused(
      await post({ jsonrpc: '2.0', method: 'notifications/hostile' }, { 'mcp-session-id': doomed }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
    const stream = await plainRequest(serve.url, {
      method: 'GET',
      headers: { ...headers, accept: 'text/event-stream' },
    });
    expectRefused(stream, 404, -30404, 'SESSION_UNKNOWN');
    expectRefused(
      await plainRequest(serve.url, { method: 'DELETE', headers }),
      404,
      -30404,
      'SESSION_UNKNOWN',
    );
  });

  it('refuses a body over max_body_bytes while it streams, and the client gets the 413', async () => {
    // Announced by Content-Length: refused before a byte of it is read.
    const announced = await post(`"hostile${'x'.repeat(MAX_BODY)}"`);
    expectRefused(announced, 413, -32600, 'BODY_TOO_LARGE', /larger than 65536 bytes/);
    expect(announced.headers.connection).toBe('close');

    // Chunked, no length, and the client keeps sending: it still reads the 413.
    const before = rssBytes(serve.process.pid as number);
    const total = 64 * 1024 * 1024;
    for (let round = 0; round < 5; round += 1) {
      const { answer, sentBytes } = await rawExchange(
        port,
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/json\r\nAccept: application/json\r\n` +
          `Mcp-Session-Id: ${session}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        { bytes: total, chunkBytes: 64 * 1024 },
      );
      expectRefused(parseRawAnswer(answer), 413, -32600, 'BODY_TOO_LARGE');
      // Refused while streaming: the client learnt it long before it was done.
      expect(sentBytes).toBeLessThan(total / 2);
    }
    // Memory stays flat (a loose bound: 5 × 64 MiB were offered).
    expect(rssBytes(serve.process.pid as number) - before).toBeLessThan(48 * 1024 * 1024);
  });

  it('answers headers too large and bytes that are not HTTP with a JSON error', async () => {
    const big = parseRawAnswer(
      (
        await rawExchange(
          port,
          `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Hostile: ${'h'.repeat(32 * 1024)}\r\n` +
            'Content-Length: 2\r\n\r\n{}',
        )
      ).answer,
    );
    expectRefused(big, 431, -32600, 'BAD_REQUEST', /headers are too large/);
    const garbage = parseRawAnswer(
      (await rawExchange(port, 'HOSTILE \x00\x01\x02\r\n\r\n')).answer,
    );
    expectRefused(garbage, 400, -32600, 'BAD_REQUEST', /not valid HTTP/);
  });
});
