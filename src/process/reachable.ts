/**
 * Can a tenant's user reach a file? Checked by the supervisor (root) before
 * the child starts, so "the built-in server's code is under /root" is one
 * clear error instead of a child dying with EACCES somewhere in Node's
 * loader. Plain mode bits, as the kernel applies them to a user without
 * supplementary groups; ACLs are not read.
 */

import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Who {
  uid: number;
  gid: number;
}

/** `read` a file, `run` a program, `enter` a folder. */
export type Need = 'read' | 'run' | 'enter';

const BIT: Record<Need, number> = { read: 0o4, run: 0o1, enter: 0o1 };

/** Where `who` is stopped on the way to `path` (with the mode), or undefined when it gets through. */
export function blockedAt(path: string, who: Who, need: Need): string | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (error) {
    return `${path}: ${(error as Error).message}`;
  }
  const chain: string[] = [];
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    const stopped = denied(dir, who, BIT.enter);
    if (stopped) return stopped;
  }
  return denied(real, who, BIT[need]);
}

function denied(path: string, who: Who, bit: number): string | undefined {
  const stat = statSync(path);
  const shift = stat.uid === who.uid ? 6 : stat.gid === who.gid ? 3 : 0;
  if (((stat.mode >> shift) & bit) !== 0) return undefined;
  const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
  return `${path} (mode ${mode}, owner uid ${stat.uid}, group gid ${stat.gid})`;
}
