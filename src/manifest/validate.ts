/**
 * Text → validated raw manifest: YAML syntax, `${VAR}` expansion and the
 * schema, with every problem collected (not just the first) and located.
 * No file system access: the loader and the editor share this.
 */

import { LineCounter, parseDocument } from 'yaml';
import { manifestInvalid, type PathSegment, type Problem } from './problems.js';
import { manifestSchema, type RawManifest } from './schema.js';
import { type SourceIndex, yamlTree } from './yaml-tree.js';
import { zodProblems } from './zod-problems.js';

export interface CheckOptions {
  /**
   * Editing commands (`add-tenant`) should not need the service's secrets in
   * the shell: with this, an unset `${VAR}` is not an error and the value
   * that uses it is left unchecked.
   */
  tolerateUnsetVariables?: boolean;
}

export interface ValidatedManifest {
  raw: RawManifest;
  index: SourceIndex;
}

/** Validates and returns the raw manifest, or throws MANIFEST_INVALID listing every problem. */
export function validateManifestText(
  text: string,
  fileLabel: string,
  env: NodeJS.ProcessEnv,
): ValidatedManifest {
  const { raw, index } = collect(text, fileLabel, env, {});
  // Without tolerated variables, "no problems" means the schema accepted it.
  if (raw === undefined) throw new Error('manifest validation produced neither data nor problems');
  return { raw, index };
}

/** Validates only (for editing); throws MANIFEST_INVALID listing every problem. */
export function checkManifestText(
  text: string,
  fileLabel: string,
  env: NodeJS.ProcessEnv,
  options: CheckOptions,
): void {
  collect(text, fileLabel, env, options);
}

function collect(
  text: string,
  fileLabel: string,
  env: NodeJS.ProcessEnv,
  options: CheckOptions,
): { raw: RawManifest | undefined; index: SourceIndex } {
  const lineCounter = new LineCounter();
  // uniqueKeys (the default) turns duplicate keys into errors.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw manifestInvalid(
      fileLabel,
      doc.errors.map((error) => ({
        line: lineCounter.linePos(error.pos[0]).line,
        path: null,
        message: `YAML syntax error: ${error.message}`,
      })),
    );
  }

  const tree = yamlTree(doc, lineCounter, env);
  const skipped: (readonly PathSegment[])[] = [];
  const problems: Problem[] = [];
  for (const problem of tree.expansionProblems) {
    skipped.push(problem.path);
    if (!(options.tolerateUnsetVariables && problem.unsetVariable !== undefined)) {
      problems.push(problem);
    }
  }

  const parsed = manifestSchema.safeParse(tree.value, { reportInput: true });
  if (!parsed.success) {
    // A value whose `${VAR}` failed was already reported (or deliberately skipped).
    const issues = parsed.error.issues.filter(
      (issue) => !skipped.some((path) => startsWith(issue.path, path)),
    );
    problems.push(...zodProblems(issues, manifestSchema, tree.index));
  }
  if (problems.length > 0) throw manifestInvalid(fileLabel, problems);
  return { raw: parsed.success ? parsed.data : undefined, index: tree.index };
}

function startsWith(path: readonly PropertyKey[], prefix: readonly PathSegment[]): boolean {
  return prefix.every((segment, i) => path[i] === segment);
}
