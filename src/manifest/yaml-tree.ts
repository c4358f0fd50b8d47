/**
 * Turns a parsed YAML document into plain values for the schema, while
 * remembering the line of every node (so errors can point at it) and the
 * source text of non-string scalars (so `VERSION: 1.10` stays "1.10", not
 * "1.1"). `${VAR}` is expanded here, in string values only, never in keys.
 */

import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter } from 'yaml';
import { expandEnv } from './env-expand.js';
import type { PathSegment, Problem } from './problems.js';

export interface ExpansionProblem extends Problem {
  path: readonly PathSegment[];
  /** Set when the problem is only that this variable is unset. */
  unsetVariable?: string | undefined;
}

export interface SourceIndex {
  /** Line of the node at `path` (a map entry's key line), else of its nearest known ancestor. */
  lineOf(path: readonly PathSegment[]): number;
  /** Source text of a non-string scalar, e.g. `1.10`. */
  sourceOf(path: readonly PathSegment[]): string | undefined;
}

export interface YamlTree {
  value: unknown;
  index: SourceIndex;
  expansionProblems: ExpansionProblem[];
}

// A key like `1.10` keeps its spelling rather than becoming "1.1".
const scalarKey = (value: unknown, source: string | undefined): string =>
  typeof value === 'string' ? value : (source ?? String(value));

const keyOf = (path: readonly PathSegment[]): string => JSON.stringify(path);

export function yamlTree(
  doc: Document,
  lineCounter: LineCounter,
  env: NodeJS.ProcessEnv,
): YamlTree {
  const lines = new Map<string, number>();
  const sources = new Map<string, string>();
  const expansionProblems: ExpansionProblem[] = [];
  // Nodes being converted right now: an alias pointing at one is a cycle.
  const inProgress = new Set<unknown>();
  const lineAt = (offset: number | undefined, fallback: number): number =>
    offset === undefined ? fallback : lineCounter.linePos(offset).line;

  const walk = (node: unknown, path: PathSegment[], line: number): unknown => {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target === undefined || inProgress.has(target)) {
        expansionProblems.push({ line, path, message: `alias *${node.source} cannot be resolved` });
        return null;
      }
      return walk(target, path, line);
    }
    if (isScalar(node)) {
      const value = node.value;
      if (typeof value !== 'string') {
        if (node.source !== undefined) sources.set(keyOf(path), node.source);
        return value;
      }
      const expanded = expandEnv(value, env);
      if (expanded.ok) return expanded.value;
      expansionProblems.push({
        line,
        path,
        message: expanded.message,
        unsetVariable: expanded.unsetVariable,
      });
      return value;
    }
    if (isMap(node)) {
      inProgress.add(node);
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key;
        const key = isScalar(keyNode) ? scalarKey(keyNode.value, keyNode.source) : String(keyNode);
        const keyLine = isScalar(keyNode) ? lineAt(keyNode.range?.[0], line) : line;
        const childPath = [...path, key];
        lines.set(keyOf(childPath), keyLine);
        if (key === '__proto__') {
          // Schemas and spreads treat it as the prototype, so it would vanish without a word.
          expansionProblems.push({
            line: keyLine,
            path: childPath,
            message: 'the key "__proto__" is not allowed; rename it',
          });
          continue;
        }
        Object.defineProperty(out, key, {
          value: walk(pair.value, childPath, keyLine),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      inProgress.delete(node);
      return out;
    }
    if (isSeq(node)) {
      inProgress.add(node);
      const out = node.items.map((item, i) => {
        const childPath = [...path, i];
        const itemLine = isScalar(item) || isMap(item) || isSeq(item) ? item.range : undefined;
        const childLine = lineAt(itemLine?.[0], line);
        lines.set(keyOf(childPath), childLine);
        return walk(item, childPath, childLine);
      });
      inProgress.delete(node);
      return out;
    }
    return null;
  };

  const contents = doc.contents;
  const rootLine = lineAt(contents?.range?.[0], 1);
  lines.set(keyOf([]), rootLine);
  const value = walk(contents, [], rootLine);

  const index: SourceIndex = {
    lineOf(path) {
      for (let n = path.length; n >= 0; n--) {
        const found = lines.get(keyOf(path.slice(0, n)));
        if (found !== undefined) return found;
      }
      return rootLine;
    },
    sourceOf: (path) => sources.get(keyOf(path)),
  };
  return { value, index, expansionProblems };
}
