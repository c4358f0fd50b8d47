import { ErrorCode, McpTenantsError } from './errors.js';
import type { JsonRpcId } from './jsonrpc.js';

/**
 * The one JSON parser for everything that enters the supervisor: HTTP
 * bodies, stdio lines, children's stdout lines. `JSON.parse` itself copes
 * with any nesting, but what comes after it does not: `JSON.stringify` (to
 * a child, to a client, into the database) and every recursive walk run out
 * of stack a few thousand levels deep. So depth is bounded here, before
 * parsing, and nothing deeper ever exists as an object.
 */

/** The manifest key of the depth bound, named in every refusal. */
export const MAX_JSON_DEPTH_KEY = 'server.max_json_depth';

/**
 * `JSON.parse(text)`, unless `text` nests deeper than `maxDepth`: then it
 * throws JSON_TOO_DEEP naming the limit, and is never parsed. Size is
 * bounded before this, where the text is read (request body, line splitter).
 * Invalid JSON throws JSON.parse's SyntaxError.
 */
export function parseBoundedJson(text: string, maxDepth: number): unknown {
  if (nestsDeeperThan(text, maxDepth)) {
    throw new McpTenantsError(
      ErrorCode.JSON_TOO_DEEP,
      `JSON nested deeper than ${maxDepth} levels (${MAX_JSON_DEPTH_KEY})`,
      { data: { max_json_depth: maxDepth } },
    );
  }
  return JSON.parse(text);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * True when `text` opens objects and arrays more than `maxDepth` deep,
 * counted outside strings. One linear pass; strings are skipped with
 * `indexOf`, so long string values cost next to nothing.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  // Valid JSON nested d deep has d openers and d closers: a short text cannot be too deep.
  if (text.length <= 2 * maxDepth) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = closingQuote(text, i);
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && depth > 0) depth -= 1;
  }
  return false;
}

/** What a refused text still says about the message it was, read without parsing it. */
export interface RefusedEnvelope {
  /** Its top-level `id`, when that is a string or an integer; else null. */
  id: JsonRpcId | null;
  /** It has a top-level `method`: a request or notification, not an answer. */
  hasMethod: boolean;
}

/** Longest id text read back from a refused message. */
const MAX_ID_CHARS = 256;
const INTEGER = /-?(?:0|[1-9]\d{0,20})(?![\d.eE])/y;

/**
 * The top-level `id` and whether there is a `method`, from the text of a
 * message too deep to parse, so its refusal can name the request it
 * answers. One linear pass, like `nestsDeeperThan`; keys are compared in
 * place (an escaped key such as "\u0069d" is not recognised).
 */
export function refusedEnvelope(text: string): RefusedEnvelope {
  const envelope: RefusedEnvelope = { id: null, hasMethod: false };
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = closingQuote(text, i);
      const colon = depth === 1 ? afterSpace(text, end + 1) : -1;
      if (colon !== -1 && text.charCodeAt(colon) === COLON) {
        if (isKey(text, i, end, 'method')) envelope.hasMethod = true;
        else if (isKey(text, i, end, 'id')) envelope.id = idAt(text, afterSpace(text, colon + 1));
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth += 1;
    else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && depth > 0) depth -= 1;
  }
  return envelope;
}

/** Index of the quote that closes the string opened at `open` (the text's end if none). */
function closingQuote(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return at;
  }
}

function afterSpace(text: string, from: number): number {
  let at = from;
  while (at < text.length) {
    const c = text.charCodeAt(at);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return at;
    at += 1;
  }
  return at;
}

function isKey(text: string, open: number, close: number, key: string): boolean {
  return close - open - 1 === key.length && text.startsWith(key, open + 1);
}

function idAt(text: string, at: number): JsonRpcId | null {
  if (text.charCodeAt(at) === QUOTE) {
    const end = closingQuote(text, at);
    if (end >= text.length || end - at > MAX_ID_CHARS) return null;
    try {
      return JSON.parse(text.slice(at, end + 1)) as string;
    } catch {
      return null;
    }
  }
  INTEGER.lastIndex = at;
  const match = INTEGER.exec(text);
  if (!match) return null;
  const id = Number(match[0]);
  return Number.isSafeInteger(id) ? id : null;
}
