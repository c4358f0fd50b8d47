/**
 * Text edits of the tenants map. The yaml library can re-print a whole
 * document, but it moves inline comments and re-indents them; splicing only
 * the lines of one entry keeps the rest of the file exactly as written.
 * Flow-style maps (`tenants: { a: {} }`) are rare and simply re-printed.
 */

import { type Document, isMap, isScalar, type Pair, YAMLMap } from 'yaml';
import { renderTenantEntry, tenantEntryDocument } from './tenant-entry.js';
import { columnOf, contentEnd, lineEnd, lineStart, withLineEndings } from './text-splice.js';

/** The text with `id: settings` added at the end of the tenants map. */
export function insertEntry(
  text: string,
  doc: Document,
  pair: Pair | undefined,
  id: string,
  settings: Record<string, unknown>,
): string {
  const value = pair?.value;
  const root = doc.contents;
  if (isMap(value) && !value.flow && value.items.length > 0) {
    const first = value.items[0];
    const indent = columnOf(
      text,
      first?.key && isScalar(first.key) ? (first.key.range?.[0] ?? 0) : 0,
    );
    const last = value.items.at(-1);
    const at = lineEnd(text, contentEnd(last) - 1);
    // Keep the file's habit: a blank line between tenants, or none.
    const blank = value.items.length > 1 && isScalar(last?.key) && last.key.spaceBefore ? '\n' : '';
    const entry = renderTenantEntry(id, settings, indent, indent > 0 ? indent : 2);
    return splice(text, at, `${blank}${entry}`);
  }
  const isEmpty =
    value === null ||
    value === undefined ||
    (isScalar(value) && value.value === null) ||
    (isMap(value) && value.items.length === 0);
  if (pair !== undefined && isEmpty && isMap(root) && !root.flow) {
    // `tenants:`, `tenants: ~` or `tenants: {}`: drop the empty value, start a block map.
    const keyEnd = contentEnd(pair.key);
    const range = isScalar(value) || isMap(value) ? (value.range ?? undefined) : undefined;
    let base = text;
    if (range !== undefined && range[1] > range[0]) {
      base =
        text.slice(0, keyEnd) +
        text.slice(keyEnd, range[0]).replace(/[ \t]+$/, '') +
        text.slice(range[1]);
    }
    const keyStart = isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0;
    const indent = columnOf(text, keyStart) + 2;
    return splice(base, lineEnd(base, keyEnd), renderTenantEntry(id, settings, indent, 2));
  }
  if (pair === undefined && isMap(root) && !root.flow) {
    const sep = text === '' || text.endsWith('\n') ? '' : '\n';
    return `${text}${sep}${withLineEndings(`\ntenants:\n${renderTenantEntry(id, settings, 2, 2)}`, text)}`;
  }
  // Flow style, or something unexpected: let the yaml library re-print the document.
  const entry = tenantEntryDocument(id, settings).contents;
  const entryPair = isMap(entry) ? entry.items[0] : undefined;
  if (isEmpty) doc.set('tenants', new YAMLMap());
  const map = doc.get('tenants', true);
  if (isMap(map) && entryPair !== undefined) map.items.push(entryPair);
  return doc.toString({ lineWidth: 0 });
}

function splice(text: string, at: number, insert: string): string {
  const sep = at === text.length && at > 0 && !text.endsWith('\n') ? '\n' : '';
  return text.slice(0, at) + sep + withLineEndings(insert, text) + text.slice(at);
}

/** The text without entry `index` of a block map, with the comments right above it. */
function cutEntry(text: string, map: YAMLMap, index: number): string {
  const item = map.items[index];
  const keyStart = isScalar(item?.key) ? (item.key.range?.[0] ?? 0) : 0;
  const indent = ' '.repeat(columnOf(text, keyStart));
  let start = lineStart(text, keyStart);
  // Comment lines directly above, at the entry's own indent, describe it.
  while (start > 0) {
    const previous = lineStart(text, start - 1);
    const line = text.slice(previous, start).replace(/\r?\n$/, '');
    if (!line.startsWith(`${indent}#`)) break;
    start = previous;
  }
  const end = lineEnd(text, contentEnd(item) - 1);
  let before = text.slice(0, start);
  let after = text.slice(end);
  // A blank line separating entries goes with the entry: the one above it,
  // or for the first entry the one below it, if another entry follows
  // (so no blank line is left right under `tenants:`).
  const blank = /^[ \t]*\r?\n/;
  if (index > 0 && /\n[ \t]*\r?\n$/.test(before)) {
    before = before.replace(/[ \t]*\r?\n$/, '');
  } else if (index === 0 && index < map.items.length - 1 && blank.test(after)) {
    after = after.replace(blank, '');
  }
  return before + after;
}

/** The text without entry `index` of `map` (the value of `pair`). */
export function removeEntry(
  text: string,
  doc: Document,
  pair: Pair,
  map: YAMLMap,
  index: number,
): string {
  if (map.flow) {
    map.items.splice(index, 1);
    return doc.toString({ lineWidth: 0 });
  }
  const updated = cutEntry(text, map, index);
  if (map.items.length > 1) return updated;
  // The last tenant is gone: say `tenants: {}` rather than leave a bare key.
  const colon = text.indexOf(':', contentEnd(pair.key));
  return `${updated.slice(0, colon + 1)} {}${updated.slice(colon + 1)}`;
}
