/**
 * Translates zod issues into manifest problems: the line comes from the YAML
 * source index, and the wording is for someone editing the file (unknown keys
 * get a "did you mean", missing keys say so, wrong values say what they got).
 */

import { z } from 'zod';
import type { PathSegment, Problem } from './problems.js';
import { unknownKeyMessage } from './suggest.js';
import type { SourceIndex } from './yaml-tree.js';

type Issue = z.core.$ZodIssue;

export function zodProblems(
  issues: readonly Issue[],
  schema: z.ZodType,
  index: SourceIndex,
  base: readonly PathSegment[] = [],
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path.map(toSegment)];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path.map(toSegment));
      for (const key of issue.keys) {
        const keyPath = [...path, key];
        problems.push({
          line: index.lineOf(keyPath),
          path: keyPath,
          message: unknownKeyMessage(key, known),
        });
      }
      continue;
    }
    problems.push({ line: index.lineOf(path), path, message: describe(issue) });
  }
  return problems;
}

const toSegment = (segment: PropertyKey): PathSegment =>
  typeof segment === 'number' ? segment : String(segment);

function describe(issue: Issue): string {
  const input = issue.input;
  if (issue.code === 'invalid_type' && input === undefined) return 'required key is missing';
  if (issue.code === 'invalid_key') return issue.issues[0]?.message ?? issue.message;
  let message = issue.message;
  if (
    issue.code === 'invalid_type' &&
    (issue.expected === 'object' || issue.expected === 'record')
  ) {
    message = 'expected a map of key: value pairs';
  } else if (issue.code === 'invalid_type' && issue.expected === 'array') {
    message = 'expected a list';
  }
  return issue.code === 'custom' ? message : `${message} (got ${show(input)})`;
}

/** How a received YAML value is shown back to the user. */
function show(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

/** Keys the schema allows for the object at `path`, for "did you mean". */
export function knownKeys(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let current: unknown = schema;
  let rest = [...path];
  for (;;) {
    if (current instanceof z.ZodPipe) current = current.out;
    else if (current instanceof z.ZodOptional) current = current.unwrap();
    else if (current instanceof z.ZodObject) {
      const [head, ...tail] = rest;
      if (head === undefined) return Object.keys(current.shape);
      current = current.shape[String(head)];
      rest = tail;
    } else if (current instanceof z.ZodRecord) {
      if (rest.length === 0) return [];
      current = current.valueType;
      rest = rest.slice(1);
    } else return [];
  }
}
