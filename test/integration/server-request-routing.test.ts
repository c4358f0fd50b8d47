import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureClient, type Inbox } from '../helpers/feature-client.js';
import { textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

interface Peer {
  name: string;
  client: Client;
  inbox: Inbox;
}

const RELATED = 'io.mcp-tenants/related-request-id';

/**
 * A child's server-to-client request that does not name the client request
 * it works for goes only where no other session could be meant: to the one
 * session with a request in flight. Two users of one tenant, each with a
 * session, and a child that never attributes its sampling requests.
 */
describe('routing of a server-to-client request the child does not attribute', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let alice: Peer;
  let bob: Peer;

  const call = async (peer: Peer, name: string, args: Record<string, unknown> = {}) =>
    textOf(await peer.client.callTool({ name, arguments: args }));

  beforeAll(async () => {
    workspace = createWorkspace({ shared: fixture('unattributed-requests.mjs') });
    serve = await startServe(workspace.manifestPath);
    const connect = async (name: string): Promise<Peer> => {
      const { client, inbox } = featureClient(name);
      const transport = new StreamableHTTPClientTransport(new URL(serve.url), {
        requestInit: {
          headers: { Authorization: `Bearer ${await workspace.token('shared', name)}` },
        },
      });
      await client.connect(transport);
      return { name, client, inbox };
    };
    alice = await connect('alice');
    bob = await connect('bob');
  });

  afterAll(async () => {
    await Promise.all([alice.client.close(), bob.client.close()]);
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  it('refuses it while two users have requests in flight, and delivers it once only one has', async () => {
    // Bob's call is in the child first; Alice's arrives after it, so hers is the newest.
    const bobs = call(bob, 'sample', { prompt: 'hi', after_waiters: 1 });
    const alices = call(alice, 'wait_here');
    const refused = await bobs;
    expect(refused).toMatch(
      /^refused -32602: cannot route sampling\/createMessage: 2 sessions \(of 2 users\)/,
    );
    expect(refused).toContain(RELATED);
    expect(refused).toMatch(/relatedRequestId/);
    expect(await call(bob, 'release')).toBe('released 1');
    expect(await alices).toBe('released');
    expect([alice.inbox.samplingRequests, bob.inbox.samplingRequests]).toEqual([0, 0]);

    // Now Bob's is the only request in flight: it can only be his.
    expect(await call(bob, 'sample', { prompt: 'again', after_waiters: 0 })).toBe(
      'answered bob answers again',
    );
    expect([alice.inbox.samplingRequests, bob.inbox.samplingRequests]).toEqual([0, 1]);
  });

  it('refuses it when no session has a request in flight, instead of guessing a recent one', async () => {
    const before = [alice.inbox.samplingRequests, bob.inbox.samplingRequests];
    // Both sessions are idle; the child samples on a notification of Bob's.
    await bob.client.sendRootsListChanged();
    const outcome = await waitFor(
      () => bob.inbox.logs.find((log) => String(log.data).startsWith('outcome ')),
      10_000,
      'the child to log what became of its request',
    );
    expect(String(outcome.data)).toMatch(
      /^outcome refused -32601: cannot route sampling\/createMessage: no session of this tenant has a request in flight from a client that supports sampling/,
    );
    expect(String(outcome.data)).toContain(RELATED);
    expect([alice.inbox.samplingRequests, bob.inbox.samplingRequests]).toEqual(before);
  });
});
