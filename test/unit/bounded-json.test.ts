import { describe, expect, it } from 'vitest';
import { nestsDeeperThan, parseBoundedJson, refusedEnvelope } from '../../src/core/bounded-json.js';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { readClientMessage } from '../../src/front/client-message.js';

const DEPTH = 64;

/** `depth` levels: objects and arrays in turn, a value at the bottom. */
function nestedText(depth: number): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    open += i % 2 === 0 ? '{"k":' : '[';
    close = (i % 2 === 0 ? '}' : ']') + close;
  }
  return `${open}1${close}`;
}

function refusal(run: () => unknown): McpTenantsError {
  try {
    run();
  } catch (error) {
    if (error instanceof McpTenantsError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the bounded JSON parser', () => {
  it('parses JSON exactly as deep as the bound, and refuses one level more, naming the limit', () => {
    expect(parseBoundedJson(nestedText(64), DEPTH)).toBeTypeOf('object');
    const error = refusal(() => parseBoundedJson(nestedText(65), DEPTH));
    expect(error.code).toBe(ErrorCode.JSON_TOO_DEEP);
    expect(error.message).toBe('JSON nested deeper than 64 levels (server.max_json_depth)');
    expect(error.jsonRpcCode).toBe(-32600);
    expect(error.httpStatus).toBe(400);
    expect(error.data).toEqual({ max_json_depth: 64 });
  });

  it('refuses 10 000 levels, of objects and of arrays alike', () => {
    for (const text of [nestedText(10_000), `${'['.repeat(10_000)}${']'.repeat(10_000)}`]) {
      expect(refusal(() => parseBoundedJson(text, DEPTH)).code).toBe(ErrorCode.JSON_TOO_DEEP);
    }
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const brackets = '[{'.repeat(500);
    const text = JSON.stringify({ a: brackets, b: `\\"${brackets}\\\\`, c: ['"[', '\\'] });
    expect(nestsDeeperThan(text, 3)).toBe(false);
    expect(parseBoundedJson(text, 3)).toEqual(JSON.parse(text));
    // A quote preceded by an even number of backslashes ends the string.
    expect(nestsDeeperThan(`{"a":"\\\\"${'['.repeat(10)}`, 5)).toBe(true);
  });

  it('skips the scan for a text too short to be too deep', () => {
    expect(nestsDeeperThan('['.repeat(128), 64)).toBe(false);
    expect(nestsDeeperThan('['.repeat(129), 64)).toBe(true);
  });

  it('leaves invalid JSON to JSON.parse', () => {
    expect(() => parseBoundedJson('{"a":', DEPTH)).toThrow(SyntaxError);
    expect(() => parseBoundedJson(']]]]', DEPTH)).toThrow(SyntaxError);
  });

  it('reads back the top-level id and method of a refused message, wherever they are', () => {
    const deep = nestedText(10_000);
    const cases: [string, ReturnType<typeof refusedEnvelope>][] = [
      [
        `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":${deep}}}`,
        { id: 7, hasMethod: true },
      ],
      [
        `{"params":{"id":1,"arguments":${deep}},"method":"x", "id" : "req-\\"9\\"","jsonrpc":"2.0"}`,
        { id: 'req-"9"', hasMethod: true },
      ],
      [`{"jsonrpc":"2.0","id":-12,"result":${deep}}`, { id: -12, hasMethod: false }],
      // Only strings and integers are ids; nested ids and "method" values do not count.
      [`{"id":1.5,"result":${deep}}`, { id: null, hasMethod: false }],
      [`{"id":{"id":3},"x":"method","result":${deep}}`, { id: null, hasMethod: false }],
      [`{"id":1e3,"result":${deep}}`, { id: null, hasMethod: false }],
      [`{"id":"${'x'.repeat(300)}","method":"m","p":${deep}}`, { id: null, hasMethod: true }],
      [`[${deep}]`, { id: null, hasMethod: false }],
      [`{"id":5,"method":"m","params":${deep.slice(0, 5000)}`, { id: 5, hasMethod: true }],
    ];
    for (const [text, envelope] of cases) expect(refusedEnvelope(text)).toEqual(envelope);
  });

  it('scans a large text in linear time', () => {
    const strings = JSON.stringify({ items: Array.from({ length: 20_000 }, (_, i) => `"${i}\\`) });
    const backslashes = JSON.stringify({ a: '\\'.repeat(1_000_000) });
    const started = performance.now();
    expect(nestsDeeperThan(strings, 64)).toBe(false);
    expect(nestsDeeperThan(backslashes, 64)).toBe(false);
    expect(refusedEnvelope(backslashes)).toEqual({ id: null, hasMethod: false });
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('a client message', () => {
  it('is one JSON-RPC message, or a refusal with the id to answer under', () => {
    const ok = readClientMessage('{"jsonrpc":"2.0","id":1,"method":"ping"}', 40, DEPTH);
    expect(ok).toEqual({ message: { jsonrpc: '2.0', id: 1, method: 'ping' } });
    const refusals: [string, string, string | number | null][] = [
      [`{"jsonrpc":"2.0","id":"d","method":"x","params":${nestedText(100)}}`, 'JSON_TOO_DEEP', 'd'],
      [`{"jsonrpc":"2.0","id":3,"result":${nestedText(100)}}`, 'JSON_TOO_DEEP', null],
      ['{"jsonrpc":"2.0","id":1,', 'PARSE_ERROR', null],
      ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 'BAD_REQUEST', null],
      ['{"jsonrpc":"2.0","id":"x","method":7}', 'BAD_REQUEST', 'x'],
    ];
    for (const [text, code, id] of refusals) {
      const read = readClientMessage(text, text.length, DEPTH);
      expect(read).toMatchObject({ refused: { code }, id });
    }
  });
});
