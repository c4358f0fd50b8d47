import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A folder with more entries than this is reported at the size counted so far. */
const MAX_ENTRIES = 200_000;

/**
 * Bytes used by the files below `dir` (symbolic links not followed, so a
 * link cannot make another folder count). Entries that vanish meanwhile are
 * skipped: the child may be writing while we walk.
 */
export async function folderSize(dir: string): Promise<number> {
  let total = 0;
  let entries = 0;
  const pending = [dir];
  while (pending.length > 0 && entries < MAX_ENTRIES) {
    const current = pending.pop() as string;
    let names: string[];
    try {
      names = await readdir(current);
    } catch {
      continue;
    }
    for (const name of names) {
      entries += 1;
      const path = join(current, name);
      try {
        const stat = await lstat(path);
        if (stat.isDirectory()) pending.push(path);
        else if (stat.isFile()) total += stat.size;
      } catch {
        // Gone since readdir.
      }
    }
  }
  return total;
}
