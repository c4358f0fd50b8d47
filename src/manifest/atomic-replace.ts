/**
 * Replace a file all at once: write a temp file next to it, flush, rename.
 * A crash or a full disk leaves either the old file or the new one, never
 * half of each — a manifest holds a secret and every tenant.
 */

import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** `mode` defaults to the existing file's mode (or 0600 for a new file). */
export function atomicReplace(path: string, content: string, mode?: number): void {
  // Write through a symlink to its target rather than replacing the link.
  const target = existingRealPath(path) ?? path;
  const finalMode = mode ?? existingMode(target) ?? 0o600;
  const temp = join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    const fd = openSync(temp, 'wx', finalMode);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, finalMode); // the umask may have narrowed it
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function existingRealPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

function existingMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return undefined;
  }
}
