import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureClient, type Inbox } from '../helpers/feature-client.js';
import { textOf } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  CLI,
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

/** Tool result text parsed as JSON. */
async function callJson(peer: Peer, name: string, args: Record<string, unknown> = {}) {
  return JSON.parse(textOf(await peer.client.callTool({ name, arguments: args })));
}

/**
 * Ends a round of notifications: an `emergency` log reaches every session and
 * streams are ordered, so once each has it, nothing else is still on its way.
 */
async function settle(peers: Peer[], marker: string): Promise<void> {
  await peers[0]?.client.callTool({
    name: 'log',
    arguments: { levels: ['emergency'], text: marker },
  });
  for (const peer of peers) {
    await waitFor(
      () => peer.inbox.logs.some((log) => log.data === marker) || undefined,
      5_000,
      `${peer.name} to see ${marker}`,
    );
  }
}

describe('faithful relay over Streamable HTTP: three sessions share one child', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let peers: Peer[];

  beforeAll(async () => {
    workspace = createWorkspace({ features: fixture('features-server.mjs') });
    serve = await startServe(workspace.manifestPath);
    peers = await Promise.all(
      ['ann', 'bob', 'cat'].map(async (name) => {
        const { client, inbox } = featureClient(name);
        const transport = new StreamableHTTPClientTransport(new URL(serve.url), {
          requestInit: {
            headers: { Authorization: `Bearer ${await workspace.token('features', name)}` },
          },
        });
        await client.connect(transport);
        return { name, client, inbox };
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(peers.map((peer) => peer.client.close()));
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  it('routes sampling, elicitation and roots to the session whose call caused them', async () => {
    const results = await Promise.all(
      peers.map(async (peer) => ({
        sample: textOf(await peer.client.callTool({ name: 'sample', arguments: { prompt: 'hi' } })),
        elicit: await callJson(peer, 'elicit', { message: 'name?' }),
        roots: await callJson(peer, 'roots'),
      })),
    );
    results.forEach((result, index) => {
      const name = peers[index]?.name;
      expect(result.sample).toBe(`${name} answers hi`);
      expect(result.elicit).toEqual({ action: 'accept', content: { name } });
      expect(result.roots).toEqual([`file:///${name}`]);
    });
    expect(peers.map((peer) => peer.inbox.samplingRequests)).toEqual([1, 1, 1]);
    // The relay's routing key never reaches a client.
    expect(peers.flatMap((peer) => peer.inbox.metaKeys)).not.toContain(
      'io.mcp-tenants/related-request-id',
    );
  });

  it('delivers logs by each session’s own level, and request-scoped logs only to their caller', async () => {
    const [ann, bob, cat] = peers as [Peer, Peer, Peer];
    await ann.client.setLoggingLevel('debug');
    await bob.client.setLoggingLevel('error');
    // cat never sets a level: it gets info and above.
    expect((await callJson(ann, 'stats')).level).toBe('debug');
    await ann.client.callTool({
      name: 'log',
      arguments: { levels: ['debug', 'info', 'error'], text: 'all' },
    });
    await bob.client.callTool({
      name: 'log_mine',
      arguments: { level: 'critical', text: 'bob-only' },
    });
    await settle(peers, 'round-1');
    const seen = (peer: Peer) => peer.inbox.logs.map((log) => `${log.level}:${log.data}`);
    expect(seen(ann)).toEqual(['debug:all', 'info:all', 'error:all', 'emergency:round-1']);
    expect(seen(bob)).toEqual(['error:all', 'critical:bob-only', 'emergency:round-1']);
    expect(seen(cat)).toEqual(['info:all', 'error:all', 'emergency:round-1']);
    expect(bob.inbox.metaKeys).not.toContain('io.mcp-tenants/related-request-id');
  });

  it('subscribes the child once per URI and sends updates only to subscribers', async () => {
    const [ann, bob, cat] = peers as [Peer, Peer, Peer];
    const uri = 'feature://item/1';
    await ann.client.subscribeResource({ uri });
    await bob.client.subscribeResource({ uri });
    let stats = await callJson(ann, 'stats');
    expect(stats.subscribeCalls).toBe(1);
    expect(stats.subscribed).toEqual([uri]);

    await cat.client.callTool({ name: 'touch', arguments: { uri } });
    await cat.client.callTool({ name: 'touch', arguments: { uri: 'feature://item/other' } });
    await settle(peers, 'round-2');
    expect(ann.inbox.updates).toEqual([uri]);
    expect(bob.inbox.updates).toEqual([uri]);
    expect(cat.inbox.updates).toEqual([]);

    await ann.client.unsubscribeResource({ uri });
    expect((await callJson(ann, 'stats')).unsubscribeCalls).toBe(0);
    await bob.client.unsubscribeResource({ uri });
    stats = await callJson(ann, 'stats');
    expect(stats.unsubscribeCalls).toBe(1);
    expect(stats.subscribed).toEqual([]);
  });

  it('tells every session when the tool list changes', async () => {
    const before = peers.map((peer) => peer.inbox.toolListChanges);
    await peers[2]?.client.callTool({ name: 'add_tool', arguments: { name: 'fresh' } });
    await settle(peers, 'round-3');
    expect(peers.map((peer, index) => peer.inbox.toolListChanges - (before[index] ?? 0))).toEqual([
      1, 1, 1,
    ]);
    const tools = await peers[0]?.client.listTools();
    expect(tools?.tools.map((tool) => tool.name)).toContain('fresh');
  });

  it('forwards a cancellation to the child under the id the child saw', async () => {
    const [ann, bob] = peers as [Peer, Peer];
    const before = (await callJson(ann, 'stats')).aborted;
    const controller = new AbortController();
    const call = ann.client.callTool({ name: 'wait', arguments: { ms: 10_000 } }, undefined, {
      signal: controller.signal,
    });
    // Bob's request with the same SDK-assigned ids keeps running meanwhile.
    const other = bob.client.callTool({ name: 'wait', arguments: { ms: 200 } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort('changed my mind');
    await expect(call).rejects.toThrow();
    expect(textOf(await other)).toBe('waited');
    await waitFor(async () => (await callJson(ann, 'stats')).aborted === before + 1 || undefined);
  });

  it('answers ping, and completes pass-through methods it does not know', async () => {
    await expect(peers[0]?.client.ping()).resolves.toEqual({});
    const templates = await peers[0]?.client.listResourceTemplates();
    expect(templates?.resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      'feature://item/{n}',
    ]);
  });
});

describe('faithful relay over stdio', () => {
  let workspace: TestWorkspace;
  let peer: Peer;

  beforeAll(async () => {
    workspace = createWorkspace({ features: fixture('features-server.mjs') });
    const { client, inbox } = featureClient('solo');
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
        env: {
          PATH: process.env.PATH ?? '',
          MCP_TENANT_TOKEN: await workspace.token('features', 'solo'),
        },
      }),
    );
    peer = { name: 'solo', client, inbox };
  });

  afterAll(async () => {
    await peer.client.close();
    workspace.cleanup();
  });

  it('relays sampling, elicitation, roots, logs, subscriptions and list changes', async () => {
    expect(
      textOf(await peer.client.callTool({ name: 'sample', arguments: { prompt: 'yo' } })),
    ).toBe('solo answers yo');
    expect(await callJson(peer, 'elicit', { message: 'name?' })).toEqual({
      action: 'accept',
      content: { name: 'solo' },
    });
    expect(await callJson(peer, 'roots')).toEqual(['file:///solo']);
    await peer.client.setLoggingLevel('warning');
    await peer.client.subscribeResource({ uri: 'feature://item/7' });
    await peer.client.callTool({
      name: 'log',
      arguments: { levels: ['info', 'warning'], text: 'x' },
    });
    await peer.client.callTool({ name: 'touch', arguments: { uri: 'feature://item/7' } });
    await peer.client.callTool({ name: 'add_tool', arguments: { name: 'later' } });
    await settle([peer], 'done');
    expect(peer.inbox.logs.map((log) => log.level)).toEqual(['warning', 'emergency']);
    expect(peer.inbox.updates).toEqual(['feature://item/7']);
    expect(peer.inbox.toolListChanges).toBe(1);
  });
});
