import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzSettings, fuzzTimeout } from '../helpers/fuzz.js';
import { rawSession } from '../helpers/mcp-client.js';
import { isAlive } from '../helpers/processes.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/**
 * Sends one request and returns its status. Event streams (a GET stream, a
 * 2026-07-28 subscription) stay open by design: their status is enough.
 */
function send(url: string, fuzz: FuzzRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      new URL(fuzz.path, url),
      { method: fuzz.method, headers: fuzz.headers },
      (response) => {
        const status = response.statusCode ?? 0;
        if (/event-stream/.test(String(response.headers['content-type']))) {
          response.destroy();
          resolve(status);
          return;
        }
        response.resume();
        response.on('end', () => resolve(status));
        response.on('error', () => resolve(status));
      },
    );
    request.setTimeout(10_000, () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', reject);
    request.end(fuzz.body.length > 0 ? fuzz.body : undefined);
  });
}

/**
 * Property: whatever a client sends to the HTTP front, the supervisor never
 * answers a client's mistake with a 5xx, never crashes, and keeps answering
 * /healthz. Requests are built from the protocol's own vocabulary (methods,
 * headers, session ids, JSON-RPC shapes) mixed with random values, so many
 * get deep into the front and the relay.
 */
describe('fuzz: the HTTP front and its JSON-RPC handling', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const tokens: string[] = [];
  const sessions: string[] = [];
  /** Used by the well-formed runs only, so a random DELETE never ends them. */
  const stable: string[] = [];

  beforeAll(async () => {
    workspace = createWorkspace({ acme: {}, rec: fixture('recorder.mjs') });
    serve = await startServe(workspace.manifestPath);
    for (const tenant of ['acme', 'rec']) {
      const token = await workspace.token(tenant);
      tokens.push(token);
      sessions.push(await rawSession(serve.url, token), await rawSession(serve.url, token));
      stable.push(await rawSession(serve.url, token), await rawSession(serve.url, token));
    }
  });

  afterAll(async () => {
    // Guarded: when beforeAll failed, its error is the one to see, and the folder still goes.
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  const mostly = <T>(arbitrary: fc.Arbitrary<T>) =>
    fc.option(arbitrary, { nil: undefined, freq: 8 });
  const rarely = <T>(arbitrary: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
  const anyId = fc.oneof(
    fc.integer(),
    fc.string({ maxLength: 8 }),
    fc.constant(null),
    fc.double(),
    fc.boolean(),
    fc.object({ maxDepth: 1 }),
  );
  const methodName = fc.oneof(
    fc.constantFrom(
      'initialize',
      'ping',
      'tools/list',
      'tools/call',
      'resources/list',
      'resources/read',
      'resources/subscribe',
      'prompts/get',
      'logging/setLevel',
      'completion/complete',
      'notifications/cancelled',
      'notifications/initialized',
      'server/discover',
      'subscriptions/listen',
    ),
    fc.string({ maxLength: 12 }),
    fc.integer(),
  );
  const params = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record(
        {
          name: fc.constantFrom('echo', 'data_get', 'data_set', 'data_list', 'nope'),
          arguments: fc.dictionary(
            fc.constantFrom('text', 'key', 'value', 'prefix'),
            fc.jsonValue(),
          ),
          uri: fc.constantFrom(
            'tenant://acme/data/x',
            'tenant://rec/data/../x',
            'file:///etc/passwd',
          ),
          level: fc.constantFrom('debug', 'info', 'nonsense'),
          requestId: anyId,
          _meta: fc.record(
            {
              progressToken: anyId,
              'io.modelcontextprotocol/protocolVersion': fc.constantFrom(
                '2026-07-28',
                '1999-01-01',
              ),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
  // Mostly well-formed requests (they get deep, into the relay and the child),
  // the rest any mix of JSON-RPC fields of any type.
  const wellFormed = fc.record(
    {
      jsonrpc: fc.constant('2.0'),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
      method: methodName,
      params,
    },
    { requiredKeys: ['jsonrpc', 'id', 'method'] },
  );
  const anyShape = fc.record(
    {
      jsonrpc: fc.oneof(fc.constant('2.0'), fc.jsonValue()),
      id: anyId,
      method: methodName,
      params,
      result: fc.jsonValue(),
      error: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  const message = fc.oneof(
    { weight: 3, arbitrary: wellFormed },
    { weight: 2, arbitrary: anyShape },
  );
  const body = fc.oneof(
    { weight: 6, arbitrary: message.map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.array(message, { maxLength: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.json() },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  );
  const request: fc.Arbitrary<FuzzRequest> = fc
    .record({
      method: fc.oneof(
        { weight: 8, arbitrary: fc.constant('POST') },
        { weight: 2, arbitrary: fc.constantFrom('GET', 'DELETE', 'PUT', 'OPTIONS', 'PATCH') },
      ),
      path: fc.oneof(
        { weight: 8, arbitrary: fc.constant('/mcp') },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            '/mcp?x=1',
            '/mcp/',
            '/healthz',
            '/',
            '/status.json',
            '/admin/tenants',
            '/admin/tenants/acme/reset',
            '/.well-known/oauth-protected-resource/mcp',
            '/%2e%2e/mcp',
            '/nope',
          ),
        },
      ),
      authorization: fc.oneof(
        { weight: 6, arbitrary: fc.constant('own') },
        {
          weight: 1,
          arbitrary: fc.constantFrom('', 'Bearer', 'Bearer a.b.c', 'Basic eDp5', 'bearer  x'),
        },
        { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => `Bearer ${s}`) },
      ),
      contentType: mostly(
        fc.oneof(
          { weight: 6, arbitrary: fc.constant('application/json') },
          {
            weight: 1,
            arbitrary: fc.constantFrom('application/json; charset=utf-8', 'text/plain', '*/*'),
          },
        ),
      ),
      accept: mostly(
        fc.constantFrom(
          'application/json, text/event-stream',
          'application/json, text/event-stream',
          'application/json, text/event-stream',
          'application/json',
          'text/event-stream',
          'text/html',
          '*/*',
        ),
      ),
      caller: fc.nat({ max: 1 }),
      ownSession: fc.nat({ max: 1 }),
      session: fc.oneof(
        { weight: 6, arbitrary: fc.constant('own') },
        { weight: 1, arbitrary: fc.nat({ max: 3 }).map((i) => sessions[i]) },
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
        { weight: 1, arbitrary: fc.uuid() },
      ),
      version: rarely(fc.constantFrom('2025-11-25', '2026-07-28', '2024-01-01', 'x')),
      mcpMethod: rarely(fc.constantFrom('tools/call', 'tools/list', 'ping')),
      origin: rarely(fc.constantFrom('https://evil.example', 'null')),
      body,
      // Half the runs are a well-formed request with one random body: they reach the child.
      wellFormed: fc.boolean(),
      wellFormedBody: wellFormed.map((value) => JSON.stringify(value)),
    })
    .map((fields) => {
      if (fields.wellFormed) {
        return {
          method: 'POST',
          path: '/mcp',
          headers: {
            authorization: `Bearer ${tokens[fields.caller]}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': stable[2 * fields.caller + fields.ownSession] as string,
          },
          body: fields.wellFormedBody,
        };
      }
      const headers: Record<string, string> = {};
      const set = (name: string, value: string | undefined) => {
        // node:http refuses control characters in headers itself; keep what it sends.
        if (value !== undefined && !/[^\t\x20-\x7e\x80-\xff]/.test(value)) headers[name] = value;
      };
      const own = (value: string | undefined, mine: string | undefined) =>
        value === 'own' ? mine : value;
      set('authorization', own(fields.authorization, `Bearer ${tokens[fields.caller]}`));
      set('content-type', fields.contentType);
      set('accept', fields.accept);
      set('mcp-session-id', own(fields.session, sessions[2 * fields.caller + fields.ownSession]));
      set('mcp-protocol-version', fields.version);
      set('mcp-method', fields.mcpMethod);
      set('origin', fields.origin);
      return { method: fields.method, path: fields.path, headers, body: fields.body };
    });

  const settings = fuzzSettings(250, 8_000);
  it(
    'never answers a client mistake with a 5xx, and never goes down',
    async () => {
      let count = 0;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(fc.noBias(request), async (fuzz) => {
          const status = await send(serve.url, fuzz);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          expect(status, JSON.stringify(fuzz).slice(0, 500)).toBeGreaterThanOrEqual(200);
          expect(status, JSON.stringify(fuzz).slice(0, 500)).toBeLessThan(500);
          count += 1;
          if (count % 25 === 0) {
            expect((await fetch(serve.url.replace('/mcp', '/healthz'))).status).toBe(200);
          }
        }),
        settings,
      );
      // Many runs get past the front (200 answers from the child), not only refusals;
      // counted against the runs made (a time limit may end the property early).
      expect(statuses.get(200) ?? 0).toBeGreaterThan(count / 5);
      expect(isAlive(serve.process.pid as number)).toBe(true);
      expect((await fetch(serve.url.replace('/mcp', '/healthz'))).status).toBe(200);
    },
    fuzzTimeout(settings),
  );
});
