/**
 * Gives a tenant's folder, and what is in it, to the user its child runs as.
 *
 * The contents are walked only when the folder itself belongs to someone
 * else: the tenant just got its `user:` (its files were written as root),
 * or another one. Links are never followed: a symbolic link is left as it
 * is (the built-in server refuses them anyway), and a file with a second
 * hard link is refused, because it may be another file's name (a previous
 * owner could have linked /etc/shadow in) and changing its owner would hand
 * that file over. Each entry is opened without following links and changed
 * through its descriptor, so what is checked is what is changed.
 */

import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
} from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Who } from './reachable.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Makes `dir` (a real folder, checked by the caller) and its contents belong to `owner`. */
export function handOver(dir: string, owner: Who): void {
  const stat = lstatSync(dir);
  if (stat.uid === owner.uid && stat.gid === owner.gid) return;
  adopt(dir, owner);
}

function adopt(path: string, owner: Who): void {
  const entry = lstatSync(path);
  // Sockets, pipes and devices are not data; symbolic links are not followed.
  if (!entry.isFile() && !entry.isDirectory()) return;
  const fd = openSync(path, entry.isDirectory() ? OPEN_FLAGS | constants.O_DIRECTORY : OPEN_FLAGS);
  try {
    const opened = fstatSync(fd);
    if (opened.ino !== entry.ino || opened.dev !== entry.dev) {
      throw refusal(path, 'it changed while its owner was being set');
    }
    if (opened.isFile() && opened.nlink > 1) {
      throw refusal(path, `it has ${opened.nlink} hard links and may be another file's name`);
    }
    if (opened.uid !== owner.uid || opened.gid !== owner.gid) {
      fchownSync(fd, owner.uid, owner.gid);
    }
  } finally {
    closeSync(fd);
  }
  if (entry.isDirectory()) {
    for (const name of readdirSync(path)) adoptIfThere(join(path, name), owner);
  }
}

/** An entry may go between the listing and its turn: the old child's SQLite removes its -shm. */
function adoptIfThere(path: string, owner: Who): void {
  try {
    adopt(path, owner);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function refusal(path: string, why: string): McpTenantsError {
  return new McpTenantsError(
    ErrorCode.CHILD_UNAVAILABLE,
    `${path} cannot be given to the tenant's user: ${why}; remove it (or copy it to a file of its own) and start the tenant again`,
  );
}
