import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawResponse, rawPost, rawSession } from '../helpers/mcp-client.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface RpcBody {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

/** A resource URI of exactly `length` characters that the features fixture serves. */
const itemUri = (length: number) => {
  const prefix = 'feature://item/';
  return `${prefix}${'x'.repeat(length - prefix.length)}`;
};

/**
 * Names and URIs a client picks: method names that are also members of every
 * JavaScript object, resource URIs of any length, and as many subscriptions
 * as it likes. Each gets a precise JSON-RPC answer, and the supervisor keeps
 * serving.
 */
describe('what a client names: methods, URIs and subscriptions', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  const sessions = new Map<string, string>();
  const tokens = new Map<string, string>();
  let nextId = 1;

  beforeAll(async () => {
    workspace = createWorkspace({
      sdk: fixture('features-server.mjs'),
      lenient: fixture('lenient-server.mjs'),
    });
    serve = await startServe(workspace.manifestPath);
    for (const tenant of ['sdk', 'lenient']) {
      const token = await workspace.token(tenant, 'alice');
      tokens.set(tenant, token);
      sessions.set(tenant, await rawSession(serve.url, token));
    }
  });

  afterAll(async () => {
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  async function request(
    tenant: string,
    method: string,
    params: Record<string, unknown> = {},
    session = sessions.get(tenant) ?? '',
  ): Promise<RawResponse & { body: RpcBody }> {
    const response = await rawPost(
      serve.url,
      { jsonrpc: '2.0', id: nextId++, method, params },
      { authorization: `Bearer ${tokens.get(tenant)}`, 'mcp-session-id': session },
    );
    return response as RawResponse & { body: RpcBody };
  }

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'relays a method named %s as the unknown method it is',
    async (method) => {
      const fromSdk = await request('sdk', method);
      expect(fromSdk.status).toBe(200);
      expect(fromSdk.body.error?.code).toBe(-32601);
      // A child that answers anything: its own answer, unchanged, nothing made up on the way.
      const fromLenient = await request('lenient', method);
      expect(fromLenient.body).toEqual({ jsonrpc: '2.0', id: fromLenient.body.id, result: {} });
      const call = await request('sdk', 'tools/call', { name: method, arguments: {} });
      expect(call.body.error ?? call.body.result?.isError).toBeTruthy();
      for (const answer of [fromSdk, fromLenient, call]) {
        expect(JSON.stringify(answer.body)).not.toContain('undefined');
      }
    },
  );

  it('refuses a 10 000-character URI in completion/complete with -32602, and keeps serving', async () => {
    const uri = itemUri(10_000);
    const answer = await request('sdk', 'completion/complete', {
      ref: { type: 'ref/resource', uri },
      argument: { name: 'n', value: '' },
    });
    expect(answer.body.error?.code).toBe(-32602);
    expect(answer.body.error?.data).toMatchObject({ code: 'USAGE', limit: 2048, length: 10_000 });
    expect(answer.body.error?.message).toBe(
      'invalid completion/complete request: the resource URI is 10000 characters long, over the limit of 2048 (server.max_uri_length)',
    );
    expect((await request('sdk', 'ping')).body.result).toEqual({});
    expect(serve.process.exitCode).toBeNull();
  });

  it('takes a URI of max_uri_length characters and refuses a longer one, for reads and subscriptions', async () => {
    const read = await request('sdk', 'resources/read', { uri: itemUri(2048) });
    expect(read.body.result?.contents).toHaveLength(1);
    for (const method of ['resources/read', 'resources/subscribe']) {
      const refused = await request('sdk', method, { uri: itemUri(2049) });
      expect(refused.body.error?.code).toBe(-32602);
      expect(refused.body.error?.message).toBe(
        `invalid ${method} request: the resource URI is 2049 characters long, over the limit of 2048 (server.max_uri_length)`,
      );
    }
    // Nothing can be subscribed under such a URI, so unsubscribing from one is a no-op.
    const unsubscribed = await request('sdk', 'resources/unsubscribe', { uri: itemUri(2049) });
    expect(unsubscribed.body.result).toEqual({});
  });

  it('holds each session to max_subscriptions_per_session URIs (100 by default)', async () => {
    const session = await rawSession(serve.url, tokens.get('sdk') ?? '');
    const subscribe = (uri: string, on = session) =>
      request('sdk', 'resources/subscribe', { uri }, on);
    for (let n = 0; n < 100; n += 1) {
      expect((await subscribe(`feature://item/${n}`)).body.result).toEqual({});
    }
    const refused = await subscribe('feature://item/100');
    expect(refused.status).toBe(200);
    expect(refused.body.error?.code).toBe(-30429);
    expect(refused.body.error?.data).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      quota: 'max_subscriptions_per_session',
      limit: 100,
    });
    expect(refused.body.error?.message).toBe(
      'cannot subscribe to "feature://item/100": a session of tenant sdk may be subscribed to at most 100 resource URIs at once (max_subscriptions_per_session); unsubscribe from one it no longer needs first',
    );
    // A URI it holds already is no new subscription; one freed makes room for another.
    expect((await subscribe('feature://item/5')).body.result).toEqual({});
    const freed = await request(
      'sdk',
      'resources/unsubscribe',
      { uri: 'feature://item/5' },
      session,
    );
    expect(freed.body.result).toEqual({});
    expect((await subscribe('feature://item/100')).body.result).toEqual({});
    // The cap is per session: the first session subscribes as before.
    expect((await subscribe('feature://item/100', sessions.get('sdk'))).body.result).toEqual({});
  });
});
