/**
 * Multi round-trip requests across client and child generations, through a
 * real `serve`: a 2026-07-28 client in front of a 2025 child that asks with
 * real server-to-client requests (test/fixtures/asking-server.mjs), and
 * either kind of client in front of a child that answers `input_required`
 * itself (test/fixtures/input-required-server.mjs).
 */
import {
  Client as StatelessClient,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as SessionClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as SessionTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statelessPost } from '../helpers/mcp-client.js';
import { waitFor } from '../helpers/processes.js';
import {
  CLI,
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const STATELESS = '2026-07-28';
const ALL_CAPABILITIES = { elicitation: {}, sampling: {}, roots: {} };

type Json = Record<string, unknown>;
interface Round {
  status: number;
  result?: Json & {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params?: Json }>;
    requestState?: string;
    content?: { text?: string }[];
  };
  error?: { code: number; message: string; data?: Json };
}

let nextId = 1;

describe('multi round-trip requests through the supervisor', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;

  beforeAll(async () => {
    workspace = createWorkspace({
      asking: { ...fixture('asking-server.mjs'), request_timeout_ms: 10_000 },
      other: fixture('asking-server.mjs'),
      brief: { ...fixture('asking-server.mjs'), request_timeout_ms: 800 },
      rounds: fixture('input-required-server.mjs'),
    });
    serve = await startServe(workspace.manifestPath);
  });

  afterAll(async () => {
    expect((await serve.stop()).survivors).toEqual([]);
    workspace.cleanup();
  });

  /** One stateless request, as the revision's wire has it. */
  async function call(
    tenant: string,
    method: string,
    params: Json,
    options: { user?: string; capabilities?: Json } = {},
  ): Promise<Round> {
    const answer = await statelessPost(serve.url, {
      token: await workspace.token(tenant, options.user ?? 'alice'),
      method,
      params,
      id: nextId++,
      capabilities: options.capabilities ?? ALL_CAPABILITIES,
    });
    const body = answer.body as { result?: Round['result']; error?: Round['error'] };
    return { status: answer.status, result: body.result, error: body.error };
  }

  const tool = (tenant: string, name: string, extra: Json = {}, options = {}) =>
    call(tenant, 'tools/call', { name, arguments: {}, ...extra }, options);

  /** An elicitation answer for the only field asked. */
  function accept(request: { params?: Json }, value: string): Json {
    const schema = request.params?.requestedSchema as { properties: Json };
    const field = Object.keys(schema.properties)[0] as string;
    return { action: 'accept', content: { [field]: value } };
  }

  describe('a 2026-07-28 client, a 2025 child that sends requests', () => {
    it('turns an elicitation into one round, and the retry into the answer', async () => {
      const first = await tool('asking', 'ask_name');
      expect(first.result?.resultType).toBe('input_required');
      const entries = Object.entries(first.result?.inputRequests ?? {});
      expect(entries).toHaveLength(1);
      const [key, request] = entries[0] as [string, { method: string; params?: Json }];
      // The key the child named; our own routing keys stay between the relay and the child.
      expect(key).toBe('name');
      expect(request.method).toBe('elicitation/create');
      expect(request.params?.message).toBe('What is your name?');
      expect(JSON.stringify(request)).not.toMatch(/related-request-id|input-key/);
      expect(typeof first.result?.requestState).toBe('string');

      const done = await tool('asking', 'ask_name', {
        inputResponses: { [key]: accept(request, 'Alice') },
        requestState: first.result?.requestState,
      });
      expect(done.result).toMatchObject({
        resultType: 'complete',
        content: [{ text: 'hello Alice' }],
      });
    });

    it('asks round after round with a new state each time', async () => {
      const first = await tool('asking', 'ask_twice');
      const [k1, r1] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
      const second = await tool('asking', 'ask_twice', {
        inputResponses: { [k1 as string]: accept(r1 as { params?: Json }, 'Ada') },
        requestState: first.result?.requestState,
      });
      expect(second.result?.resultType).toBe('input_required');
      expect(second.result?.requestState).not.toBe(first.result?.requestState);
      const [k2, r2] = Object.entries(second.result?.inputRequests ?? {})[0] ?? [];
      expect(r2?.params?.message).toBe('What is your color?');
      // The first round's state is spent.
      const replay = await tool('asking', 'ask_twice', {
        inputResponses: { [k1 as string]: accept(r1 as { params?: Json }, 'Eve') },
        requestState: first.result?.requestState,
      });
      expect(replay.error).toMatchObject({ code: -32602, data: { code: 'REQUEST_STATE_INVALID' } });
      const done = await tool('asking', 'ask_twice', {
        inputResponses: { [k2 as string]: accept(r2 as { params?: Json }, 'green') },
        requestState: second.result?.requestState,
      });
      expect(done.result?.content?.[0]?.text).toBe('Ada likes green');
    });

    it('sends requests the child makes together in one round', async () => {
      const first = await tool('asking', 'ask_all');
      const requests = first.result?.inputRequests ?? {};
      expect(
        Object.values(requests)
          .map((request) => request.method)
          .sort(),
      ).toEqual(['elicitation/create', 'roots/list', 'sampling/createMessage']);
      const responses: Json = {};
      for (const [key, request] of Object.entries(requests)) {
        responses[key] =
          request.method === 'elicitation/create'
            ? accept(request, 'Bo')
            : request.method === 'roots/list'
              ? { roots: [{ uri: 'file:///work' }] }
              : { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'm' };
      }
      // A missing answer is asked for again, not an error.
      const [firstKey] = Object.keys(responses);
      const partial = await tool('asking', 'ask_all', {
        inputResponses: { [firstKey as string]: responses[firstKey as string] },
        requestState: first.result?.requestState,
      });
      expect(partial.result?.resultType).toBe('input_required');
      expect(Object.keys(partial.result?.inputRequests ?? {}).sort()).toEqual(
        Object.keys(responses)
          .filter((key) => key !== firstKey)
          .sort(),
      );
      const done = await tool('asking', 'ask_all', {
        inputResponses: { ...responses, unknown_key: { action: 'accept' } },
        requestState: partial.result?.requestState,
      });
      expect(done.result?.content?.[0]?.text).toBe('Bo|hi|file:///work');
    });

    it('works for prompts/get too', async () => {
      const first = await call('asking', 'prompts/get', { name: 'asked' });
      const [key, request] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
      const done = await call('asking', 'prompts/get', {
        name: 'asked',
        inputResponses: { [key as string]: accept(request as { params?: Json }, 'whales') },
        requestState: first.result?.requestState,
      });
      expect(JSON.stringify(done.result)).toContain('tell me about whales');
    });

    it('refuses tampered, foreign and malformed state and responses', async () => {
      const first = await tool('asking', 'ask_name');
      const [key, request] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
      const responses = { [key as string]: accept(request as { params?: Json }, 'Mallory') };
      const state = first.result?.requestState as string;
      const refusals = [
        await tool('asking', 'ask_name', { inputResponses: responses, requestState: `${state}x` }),
        // Another user of the tenant, another tenant, another tool.
        await tool(
          'asking',
          'ask_name',
          { inputResponses: responses, requestState: state },
          { user: 'bob' },
        ),
        await tool('other', 'ask_name', { inputResponses: responses, requestState: state }),
        await tool('asking', 'ask_twice', { inputResponses: responses, requestState: state }),
      ];
      for (const refused of refusals) {
        expect(refused.error).toMatchObject({
          code: -32602,
          data: { code: 'REQUEST_STATE_INVALID' },
        });
      }
      for (const inputResponses of [null, { [key as string]: 12345 }]) {
        const malformed = await tool('asking', 'ask_name', {
          inputResponses,
          requestState: state,
        });
        expect(malformed.error?.code).toBe(-32602);
      }
      // The rightful user can still answer.
      const done = await tool('asking', 'ask_name', {
        inputResponses: responses,
        requestState: state,
      });
      expect(done.result?.content?.[0]?.text).toBe('hello Mallory');
    });

    it('only asks what the client declared; the child gets an error for the rest', async () => {
      const refused = await tool('asking', 'ask_name', {}, { capabilities: { sampling: {} } });
      expect(refused.result?.resultType).not.toBe('input_required');
      expect(JSON.stringify(refused)).toContain('elicitation');
    });

    it('asks a client only for what a client answers, at most 32 a round', async () => {
      const odd = await tool('asking', 'ask_odd');
      expect(odd.result?.resultType).toBe('complete');
      expect(odd.result?.content?.[0]?.text).toMatch(/^refused: /);

      const flood = await tool('asking', 'ask_flood');
      const requests = Object.entries(flood.result?.inputRequests ?? {});
      expect(requests).toHaveLength(32);
      const done = await tool('asking', 'ask_flood', {
        inputResponses: Object.fromEntries(
          requests.map(([key, request]) => [key, accept(request, 'n')]),
        ),
        requestState: flood.result?.requestState,
      });
      expect(done.result?.content?.[0]?.text).toBe('32 answered, 8 refused');
    });

    it('cancels a parked call in the child when its client never comes back', async () => {
      const stats = async () =>
        JSON.parse((await tool('brief', 'stats')).result?.content?.[0]?.text ?? '{}') as {
          cancelled: number;
        };
      const before = (await stats()).cancelled;
      const first = await tool('brief', 'ask_name');
      expect(first.result?.resultType).toBe('input_required');
      await waitFor(async () => (await stats()).cancelled > before || undefined, 5_000, 'cancel');
      const [key, request] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
      const late = await tool('brief', 'ask_name', {
        inputResponses: { [key as string]: accept(request as { params?: Json }, 'late') },
        requestState: first.result?.requestState,
      });
      // The call's own end (its timeout) while it waited, or, once it expired, a spent state.
      expect(late.result).toBeUndefined();
      expect([-30504, -32602]).toContain(late.error?.code);
    });

    it("keeps the child's answer that came while the call was parked for the retry", async () => {
      const gaveUp = async () =>
        (
          JSON.parse((await tool('asking', 'stats')).result?.content?.[0]?.text ?? '{}') as {
            gaveUp: number;
          }
        ).gaveUp;
      const before = await gaveUp();
      const first = await tool('asking', 'ask_briefly');
      expect(first.result?.resultType).toBe('input_required');
      await waitFor(
        async () => (await gaveUp()) > before || undefined,
        5_000,
        'the child gives up',
      );
      const [key, request] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
      const late = await tool('asking', 'ask_briefly', {
        inputResponses: { [key as string]: accept(request as { params?: Json }, 'late') },
        requestState: first.result?.requestState,
      });
      expect(late.result?.content?.[0]?.text).toBe('gave up waiting');
    });

    it('keeps the rounds of several users apart on one child', async () => {
      const users = ['u1', 'u2', 'u3'];
      const firsts = await Promise.all(
        users.map((user) => tool('asking', 'ask_name', {}, { user })),
      );
      const answers = await Promise.all(
        firsts.map((first, index) => {
          const [key, request] = Object.entries(first.result?.inputRequests ?? {})[0] ?? [];
          return tool(
            'asking',
            'ask_name',
            {
              inputResponses: {
                [key as string]: accept(request as { params?: Json }, `name-${index}`),
              },
              requestState: first.result?.requestState,
            },
            { user: users[index] },
          );
        }),
      );
      expect(answers.map((answer) => answer.result?.content?.[0]?.text)).toEqual([
        'hello name-0',
        'hello name-1',
        'hello name-2',
      ]);
    });

    it('lets the official 2.x client fulfil the rounds by itself', async () => {
      const client = new StatelessClient(
        { name: 'rounds-test', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: STATELESS } }, capabilities: { elicitation: {} } },
      );
      client.setRequestHandler('elicitation/create', async (request) => {
        const schema = (request.params as { requestedSchema?: { properties: Json } })
          .requestedSchema;
        return {
          action: 'accept',
          content: { [Object.keys(schema?.properties ?? {})[0] ?? 'v']: 'Sam' },
        };
      });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(serve.url), {
          requestInit: { headers: { Authorization: `Bearer ${await workspace.token('asking')}` } },
        }),
      );
      try {
        const result = await client.callTool({ name: 'ask_twice', arguments: {} });
        expect((result.content as { text: string }[])[0]?.text).toBe('Sam likes Sam');
      } finally {
        await client.close();
      }
    });
  });

  describe('a child that answers input_required itself', () => {
    it('passes its rounds to a 2026-07-28 client with its own state sealed inside ours', async () => {
      const first = await tool('rounds', 'confirm');
      expect(first.result?.inputRequests).toMatchObject({ ok: { method: 'elicitation/create' } });
      expect(first.result?.requestState).not.toBe('child-state-1');
      expect(first.result?.requestState).not.toContain('child-state-1');
      const done = await tool('rounds', 'confirm', {
        inputResponses: { ok: { action: 'accept', content: { v: 'yes' } } },
        requestState: first.result?.requestState,
      });
      expect(done.result?.content?.[0]?.text).toBe('confirmed: yes (state ok)');
      // Each sealed state answers once.
      const replayed = await tool('rounds', 'confirm', {
        inputResponses: { ok: { action: 'accept', content: { v: 'again' } } },
        requestState: first.result?.requestState,
      });
      expect(replayed.error).toMatchObject({
        code: -32602,
        data: { code: 'REQUEST_STATE_INVALID' },
      });
      // The child's state is never the client's to set.
      const forged = await tool('rounds', 'echo_state', { requestState: 'child-state-1' });
      expect(forged.error).toMatchObject({ code: -32602 });
    });

    it('refuses a round the client has no capability for with -32021 and HTTP 400', async () => {
      const refused = await tool('rounds', 'confirm', {}, { capabilities: { sampling: {} } });
      expect(refused.status).toBe(400);
      expect(refused.error?.code).toBe(-32021);
    });

    it('fulfils the rounds for a 2025 session client with real requests', async () => {
      const client = new SessionClient(
        { name: 'session-rounds', version: '1.0.0' },
        { capabilities: { elicitation: {} } },
      );
      const asked: string[] = [];
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(request.params.message);
        return { action: 'accept', content: { v: `v${asked.length}` } };
      });
      await client.connect(
        new SessionTransport(new URL(serve.url), {
          requestInit: { headers: { Authorization: `Bearer ${await workspace.token('rounds')}` } },
        }),
      );
      try {
        const once = await client.callTool({ name: 'confirm', arguments: {} });
        expect((once.content as { text: string }[])[0]?.text).toBe('confirmed: v1 (state ok)');
        const twice = await client.callTool({ name: 'confirm_twice', arguments: {} });
        expect((twice.content as { text: string }[])[0]?.text).toBe('v2 then v3');
        expect(asked).toEqual(['answer ok', 'answer a', 'answer b']);
        expect(JSON.stringify(twice)).not.toContain('input_required');
      } finally {
        await client.close();
      }
    });

    it('bounds what it fulfils for a 2025 client: rounds and requests per round', async () => {
      const client = new SessionClient(
        { name: 'bounded-rounds', version: '1.0.0' },
        { capabilities: { elicitation: {} } },
      );
      let asked = 0;
      client.setRequestHandler(ElicitRequestSchema, async () => {
        asked += 1;
        return { action: 'accept', content: { v: 'x' } };
      });
      await client.connect(
        new SessionTransport(new URL(serve.url), {
          requestInit: { headers: { Authorization: `Bearer ${await workspace.token('rounds')}` } },
        }),
      );
      try {
        await expect(client.callTool({ name: 'ask_forever', arguments: {} })).rejects.toThrow(
          /still asks for input after 8 rounds/,
        );
        expect(asked).toBe(8);
        await expect(client.callTool({ name: 'ask_many', arguments: {} })).rejects.toThrow(
          /asked for 40 inputs in one round/,
        );
        expect(asked).toBe(8);
      } finally {
        await client.close();
      }
    });

    it('tells a 2025 client without the capability what is missing', async () => {
      const client = new SessionClient({ name: 'no-elicitation', version: '1.0.0' });
      await client.connect(
        new SessionTransport(new URL(serve.url), {
          requestInit: { headers: { Authorization: `Bearer ${await workspace.token('rounds')}` } },
        }),
      );
      try {
        await expect(client.callTool({ name: 'confirm', arguments: {} })).rejects.toThrow(
          /-32021.*elicitation capability/,
        );
      } finally {
        await client.close();
      }
    });
  });

  it('bridges both directions over serve --stdio too', async () => {
    const elicit = (answer: string) => async (request: { params: unknown }) => {
      const schema = (request.params as { requestedSchema?: { properties: Json } }).requestedSchema;
      return {
        action: 'accept' as const,
        content: { [Object.keys(schema?.properties ?? {})[0] ?? 'v']: answer },
      };
    };
    const stdio = async (tenant: string) => ({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '-m', workspace.manifestPath, '--log-level', 'warn'],
      env: { PATH: process.env.PATH ?? '', MCP_TENANT_TOKEN: await workspace.token(tenant) },
    });
    const stateless = new StatelessClient(
      { name: 'stdio-rounds', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: STATELESS } }, capabilities: { elicitation: {} } },
    );
    stateless.setRequestHandler('elicitation/create', elicit('Io'));
    const session = new SessionClient(
      { name: 'stdio-session-rounds', version: '1.0.0' },
      { capabilities: { elicitation: {} } },
    );
    session.setRequestHandler(ElicitRequestSchema, elicit('yes'));
    try {
      await stateless.connect(new StdioClientTransport(await stdio('asking')));
      const asked = await stateless.callTool({ name: 'ask_twice', arguments: {} });
      expect((asked.content as { text: string }[])[0]?.text).toBe('Io likes Io');
      const { StdioClientTransport: SessionStdio } = await import(
        '@modelcontextprotocol/sdk/client/stdio.js'
      );
      await session.connect(new SessionStdio(await stdio('rounds')));
      const confirmed = await session.callTool({ name: 'confirm', arguments: {} });
      expect((confirmed.content as { text: string }[])[0]?.text).toBe('confirmed: yes (state ok)');
    } finally {
      await stateless.close();
      await session.close();
    }
  });
});
