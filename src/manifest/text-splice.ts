/** Offsets and line helpers for editing YAML text in place (see tenants-text.ts). */

import { isCollection, isPair, isScalar, type Node } from 'yaml';

/** Offset just past the last content character of `node` (not its trailing comments). */
export function contentEnd(node: unknown): number {
  if (isScalar(node)) return node.range?.[1] ?? 0;
  if (isPair(node)) return Math.max(contentEnd(node.key), contentEnd(node.value));
  if (isCollection(node)) {
    // A flow collection ends at its closing bracket; a block one at its last item.
    if (node.flow) return node.range?.[1] ?? 0;
    return Math.max(0, ...node.items.map((item) => contentEnd(item)));
  }
  const range = (node as Node | null)?.range;
  return range?.[1] ?? 0;
}

/** Offset of the start of the line holding `offset`. */
export function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** Offset just past the newline ending the line holding `offset` (or the text's end). */
export function lineEnd(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline === -1 ? text.length : newline + 1;
}

/** Column (0-based) of `offset` within its line. */
export function columnOf(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

/** The file's own line ending, so inserted lines match it. */
export function withLineEndings(text: string, like: string): string {
  return like.includes('\r\n') ? text.replace(/\r?\n/g, '\r\n') : text;
}
