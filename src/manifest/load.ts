/** Reading a manifest file: the entry point the CLI and the supervisor use. */

import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Manifest } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { resolveManifest } from './resolve.js';
import { validateManifestText } from './validate.js';

export function loadManifest(path: string, env: NodeJS.ProcessEnv = process.env): Manifest {
  const absolute = resolve(path);
  const text = readManifestText(path);
  return parseManifest(text, path, dirname(absolute), env, absolute);
}

/**
 * The pure core (apart from creating a missing `secret_file`).
 * `fileLabel` is how errors name the file: the path as the user typed it.
 */
export function parseManifest(
  text: string,
  fileLabel: string,
  manifestDir: string,
  env: NodeJS.ProcessEnv = process.env,
  absolutePath: string = resolve(manifestDir, basename(fileLabel)),
): Manifest {
  const { raw, index } = validateManifestText(text, fileLabel, env);
  return resolveManifest(raw, { path: absolutePath, manifestDir, fileLabel, index });
}

/** Reads the file, turning "missing" into an error that says what to do. */
export function readManifestText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new McpTenantsError(
        ErrorCode.MANIFEST_NOT_FOUND,
        `manifest ${path} not found; create one with \`mcp-tenants init -m ${path}\``,
        { cause: error },
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new McpTenantsError(
      ErrorCode.MANIFEST_INVALID,
      `cannot read manifest ${path}: ${reason}`,
      {
        cause: error,
      },
    );
  }
}
