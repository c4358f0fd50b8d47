import { describe, expect, it } from 'vitest';
import { ErrorCode, McpTenantsError } from '../../src/errors.js';
import {
  type JsonBounds,
  nestsDeeperThan,
  parseBoundedJson,
  refusedEnvelope,
} from '../../src/relay/bounded-json.js';

const BOUNDS: JsonBounds = {
  maxDepth: 64,
  maxBytes: 1024 * 1024,
  maxBytesKey: 'server.max_body_bytes',
};

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
    expect(parseBoundedJson(nestedText(64), BOUNDS)).toBeTypeOf('object');
    const error = refusal(() => parseBoundedJson(nestedText(65), BOUNDS));
    expect(error.code).toBe(ErrorCode.JSON_TOO_DEEP);
    expect(error.message).toBe('JSON nested deeper than 64 levels (server.max_json_depth)');
    expect(error.jsonRpcCode).toBe(-32600);
    expect(error.httpStatus).toBe(400);
    expect(error.data).toEqual({ max_json_depth: 64 });
  });

  it('refuses 10 000 levels, of objects and of arrays alike', () => {
    for (const text of [nestedText(10_000), `${'['.repeat(10_000)}${']'.repeat(10_000)}`]) {
      expect(refusal(() => parseBoundedJson(text, BOUNDS)).code).toBe(ErrorCode.JSON_TOO_DEEP);
    }
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const brackets = '[{'.repeat(500);
    const text = JSON.stringify({ a: brackets, b: `\\"${brackets}\\\\`, c: ['"[', '\\'] });
    expect(nestsDeeperThan(text, 3)).toBe(false);
    expect(parseBoundedJson(text, { ...BOUNDS, maxDepth: 3 })).toEqual(JSON.parse(text));
    // A quote preceded by an even number of backslashes ends the string.
    expect(nestsDeeperThan(`{"a":"\\\\"${'['.repeat(10)}`, 5)).toBe(true);
  });

  it('skips the scan for a text too short to be too deep', () => {
    expect(nestsDeeperThan('['.repeat(128), 64)).toBe(false);
    expect(nestsDeeperThan('['.repeat(129), 64)).toBe(true);
  });

  it('refuses a text larger than the byte bound, counted in UTF-8', () => {
    const bounds = { ...BOUNDS, maxBytes: 30 };
    expect(parseBoundedJson(JSON.stringify('x'.repeat(28)), bounds)).toBe('x'.repeat(28));
    const error = refusal(() => parseBoundedJson(JSON.stringify('é'.repeat(15)), bounds));
    expect(error.code).toBe(ErrorCode.BODY_TOO_LARGE);
    expect(error.message).toMatch(/larger than 30 bytes \(server\.max_body_bytes\)/);
  });

  it('leaves invalid JSON to JSON.parse', () => {
    expect(() => parseBoundedJson('{"a":', BOUNDS)).toThrow(SyntaxError);
    expect(() => parseBoundedJson(']]]]', BOUNDS)).toThrow(SyntaxError);
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
