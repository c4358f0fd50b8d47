/**
 * One manifest problem = file, line, key path, message. Every way a manifest
 * can be wrong ends up here so that all errors read the same:
 * `my.yaml:14 tenants.acme.quotas.max_tools: expected a positive integer`.
 */

import { ErrorCode, McpTenantsError } from '../core/errors.js';

export type PathSegment = string | number;

export interface Problem {
  /** 1-based line in the manifest file. */
  line: number;
  /** Key path of the offending node; null for YAML syntax errors. */
  path: readonly PathSegment[] | null;
  message: string;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `tenants.acme.args[0]`; odd keys are quoted so the path stays unambiguous. */
export function formatPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

export function formatProblem(fileLabel: string, problem: Problem): string {
  if (problem.path === null) return `${fileLabel}:${problem.line} ${problem.message}`;
  return `${fileLabel}:${problem.line} ${formatPath(problem.path)}: ${problem.message}`;
}

/** Builds the error for a list of problems: one problem per line, sorted by line. */
export function manifestInvalid(fileLabel: string, problems: readonly Problem[]): McpTenantsError {
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const lines = sorted.map((p) => formatProblem(fileLabel, p));
  const message =
    lines.length === 1
      ? (lines[0] ?? '')
      : [`${fileLabel}: ${lines.length} problems in the manifest:`, ...lines].join('\n');
  return new McpTenantsError(ErrorCode.MANIFEST_INVALID, message, {
    data: {
      file: fileLabel,
      problems: sorted.map((p) => ({
        line: p.line,
        path: p.path === null ? null : formatPath(p.path),
        message: p.message,
      })),
    },
  });
}
