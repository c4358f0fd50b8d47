import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzSettings, fuzzTimeout } from '../helpers/fuzz.js';
import { rawPost, rawSession } from '../helpers/mcp-client.js';
import { trailOf } from '../helpers/poison.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import { openEventStream, rssBytes } from '../helpers/raw-http.js';
import { type RawStdio, startRawStdio } from '../helpers/raw-stdio.js';
import {
  createWorkspace,
  fixture,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const MAX_BODY = 256 * 1024;
const MiB = 1024 * 1024;

/** Objects, arrays or both in turn, `depth` levels, closed or cut short. */
const nested = fc
  .record({
    depth: fc.oneof(
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 70 }) },
      { weight: 1, arbitrary: fc.integer({ min: 60, max: 70 }) },
      // Deep enough for JSON.stringify and recursive walks to run out of stack.
      { weight: 2, arbitrary: fc.integer({ min: 5_000, max: 20_000 }) },
    ),
    kind: fc.constantFrom('object', 'array', 'mixed'),
    closed: fc.boolean(),
    leaf: fc.oneof(fc.constantFrom('1', '"x"', 'null', '"[{\\"', '{}'), fc.json({ maxDepth: 2 })),
  })
  .map(({ depth, kind, closed, leaf }) => {
    let open = '';
    let close = '';
    for (let i = 0; i < depth; i++) {
      const object = kind === 'object' || (kind === 'mixed' && i % 2 === 0);
      open += object ? '{"k":' : '[';
      close = (object ? '}' : ']') + close;
    }
    return `${open}${leaf}${closed ? close : close.slice(0, Math.floor(close.length / 2))}`;
  });

/** Large texts of one shape each, up to past the body bound. */
const huge = fc
  .record({
    bytes: fc.integer({ min: 1_000, max: MAX_BODY + 20_000 }),
    shape: fc.constantFrom('string', 'array', 'keys', 'escaped quotes', 'backslashes'),
  })
  .map(({ bytes, shape }) => {
    switch (shape) {
      case 'string':
        return `"${'x'.repeat(bytes)}"`;
      case 'array':
        return `[${'1,'.repeat(bytes / 2)}1]`;
      case 'keys':
        return `{${Array.from({ length: bytes / 12 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
      case 'escaped quotes':
        return `"${'\\"['.repeat(bytes / 3)}"`;
      default:
        return `"${'\\\\'.repeat(bytes / 2)}"`;
    }
  });

/** What JSON.parse may take or refuse in surprising ways. */
const odd = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.string({ unit: 'binary', maxLength: 40 }).map((text) => `"${text.replace(/["\\]/g, '')}"`),
  fc.constantFrom(
    '1e400',
    '-0',
    '"\\u0000"',
    '"\\ud800"',
    '{"__proto__":{"polluted":1}}',
    '{"id":{"id":1}}',
    '{"a":1,"a":2}',
    '\ufeff{}',
    ']]]][[[[',
    '{"jsonrpc":"2.0","id":1,"method":"ping","params":',
    '',
  ),
);

const poison = fc.oneof(
  { weight: 2, arbitrary: nested },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: odd },
);
const id = fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constantFrom('"a"', '"\\"q\\""'));

/** The poison as a whole message, or inside one of each kind. */
const message = fc.oneof(
  poison,
  fc
    .tuple(id, poison)
    .map(
      ([i, p]) =>
        `{"jsonrpc":"2.0","id":${i},"method":"tools/call","params":{"name":"data_get","arguments":{"key":${p}}}}`,
    ),
  fc
    .tuple(id, poison)
    .map(
      ([i, p]) =>
        `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"data_get","arguments":${p}},"id":${i}}`,
    ),
  poison.map(
    (p) =>
      `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":${p}}}`,
  ),
  fc.tuple(id, poison).map(([i, p]) => `{"jsonrpc":"2.0","id":${i},"result":{"v":${p}}}`),
);

const run = fc
  .record({
    channel: fc.constantFrom('http', 'stdio', 'child'),
    // A line cannot hold a newline; a body can.
    text: message.map((text) => text.replace(/[\r\n]/g, ' ')),
  })
  .map((value) => ({
    ...value,
    // A counterexample is reported by its head and size, not hundreds of kilobytes.
    [fc.toStringMethod]: () =>
      `${value.channel}: ${value.text.length} chars: ${value.text.slice(0, 160)}…${value.text.slice(-40)}`,
  }));

/**
 * Property: whatever JSON a client sends (HTTP body, stdio line) or a child
 * prints (stdout line), nested, huge or odd, the supervisor survives it, the
 * next call on the same path is answered and audited, and its memory comes
 * back near where it started.
 */
describe('fuzz: poisoned JSON on every way in', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess;
  let stdio: RawStdio;
  let stream: Awaited<ReturnType<typeof openEventStream>>;
  let acmeHeaders: Record<string, string>;
  let deepHeaders: Record<string, string>;
  /** Resident memory of the HTTP and the stdio supervisor. */
  const rss = () => [rssBytes(serve.process.pid as number), rssBytes(stdio.pid)];
  const since = Date.now() - 60_000;

  beforeAll(async () => {
    // Long runs (`npm run fuzz`) send more than the default rate limit allows.
    const unlimited = { quotas: { max_requests_per_minute: 100_000_000 } };
    workspace = createWorkspace(
      {
        acme: { ...unlimited, audit: { arguments: true } },
        deep: {
          ...fixture('deep-line.mjs'),
          ...unlimited,
          request_timeout_ms: 5_000,
          audit: { arguments: true },
        },
      },
      { max_body_bytes: MAX_BODY },
    );
    const manifest = JSON.parse(readFileSync(workspace.manifestPath, 'utf8'));
    manifest.telemetry = { flush_interval_ms: 100 };
    writeFileSync(workspace.manifestPath, JSON.stringify(manifest, null, 2));
    serve = await startServe(workspace.manifestPath);
    const acme = await workspace.token('acme', 'hana');
    const deep = await workspace.token('deep', 'cora');
    acmeHeaders = {
      authorization: `Bearer ${acme}`,
      'mcp-session-id': await rawSession(serve.url, acme),
    };
    const deepSession = await rawSession(serve.url, deep);
    deepHeaders = { authorization: `Bearer ${deep}`, 'mcp-session-id': deepSession };
    // What the child prints to every session goes out on this stream.
    stream = await openEventStream(serve.url, deep, deepSession);
    stdio = await startRawStdio(workspace.manifestPath, await workspace.token('acme', 'sol'));
  });

  afterAll(async () => {
    await stream?.close();
    const closed = await stdio?.close();
    const stopped = await serve?.stop();
    workspace?.cleanup();
    expect(closed).toEqual({ code: 0, survivors: [] });
    expect(stopped?.code).toBe(0);
    expect(stopped?.survivors).toEqual([]);
  });

  const post = (body: string, headers: Record<string, string>) =>
    rawPost(serve.url, body, { ...headers, accept: 'application/json' });
  const call = (callId: number, name: string, args: Record<string, unknown>) => ({
    jsonrpc: '2.0',
    id: callId,
    method: 'tools/call',
    params: { name, arguments: args },
  });

  const settings = fuzzSettings(40, 4_000);
  it(
    'survives every poisoned text, audits the call after it, and gives its memory back',
    async () => {
      // Warm up each path once, so the baseline holds what a working supervisor holds.
      await post(JSON.stringify(call(1, 'data_get', { key: 'warm' })), acmeHeaders);
      await post(JSON.stringify(call(1, 'echo', { text: 'warm' })), deepHeaders);
      stdio.send(call(1, 'data_get', { key: 'warm' }));
      await stdio.answerTo(1);
      const baseline = rss();
      const expected: Record<'http' | 'stdio' | 'child', string[]> = {
        http: [],
        stdio: [],
        child: [],
      };
      let count = 0;
      await fc.assert(
        fc.asyncProperty(fc.noBias(run), async ({ channel, text }) => {
          count += 1;
          const key = `run-${count}`;
          const nextId = 1_000_000 + count;
          if (channel === 'http') {
            expect((await post(text, acmeHeaders)).status).toBeLessThan(500);
            const next = await post(JSON.stringify(call(nextId, 'data_get', { key })), acmeHeaders);
            expect(next.body).toMatchObject({ id: nextId, result: {} });
          } else if (channel === 'stdio') {
            stdio.send(text);
            stdio.send(call(nextId, 'data_get', { key }));
            expect(await stdio.answerTo(nextId)).toMatchObject({ id: nextId, result: {} });
          } else {
            const printed = await post(
              JSON.stringify(call(count, 'print', { line: text })),
              deepHeaders,
            );
            expect(printed.status).toBeLessThan(500);
            const next = await post(
              JSON.stringify(call(nextId, 'echo', { text: key })),
              deepHeaders,
            );
            expect(next.body).toMatchObject({ id: nextId, result: {} });
          }
          expected[channel].push(key);
        }),
        settings,
      );
      expect(isAlive(serve.process.pid as number)).toBe(true);
      expect((await fetch(serve.url.replace('/mcp', '/healthz'))).status).toBe(200);

      // Every call after a poisoned text is in the audit trail, with its arguments.
      const trail = trailOf(workspace.manifestPath, since);
      const keysOf = (user: string, field: 'key' | 'text') =>
        trail
          .audit('--user', user, '--limit', '1000000')
          .map((row) => row.detail?.arguments?.[field])
          .filter((value) => typeof value === 'string' && value.startsWith('run-'));
      await waitFor(
        () => {
          const audited = new Set([
            ...keysOf('hana', 'key'),
            ...keysOf('sol', 'key'),
            ...keysOf('cora', 'text'),
          ]);
          const all = [...expected.http, ...expected.stdio, ...expected.child];
          return all.every((key) => audited.has(key)) || undefined;
        },
        10_000,
        'every call after a poisoned text in the audit trail',
      );
      expect(trail.verified()).toBe(true);

      // Nothing of the poisoned texts is held: memory comes back near the start.
      await waitFor(
        () => rss().every((bytes, i) => bytes < (baseline[i] ?? 0) + 64 * MiB) || undefined,
        10_000,
        `the RSS of both supervisors back within 64 MiB of ${baseline.map((bytes) => Math.round(bytes / MiB))} MiB`,
      );
    },
    fuzzTimeout(settings),
  );
});
