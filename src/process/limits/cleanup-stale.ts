import { join } from 'node:path';
import { killProcs, removeFolders, removeIfEmpty, subFolders } from './cgroup-files.js';
import type { CgroupPlacement } from './types.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function trees(placement: CgroupPlacement): string[] {
  return placement.version === 2 ? [placement.tree] : Object.values(placement.trees);
}

/**
 * Removes what supervisors that are gone left behind: `<tree>/<pid>/…`
 * folders (killing any child still in them, so no orphan outlives its
 * supervisor) and `probe-<pid>` folders. Folders of live instances, this
 * one included, are left alone. Resolves to the folders removed.
 */
export async function cleanupStale(placement: CgroupPlacement | undefined): Promise<string[]> {
  if (!placement) return [];
  const removed: string[] = [];
  for (const tree of trees(placement)) {
    for (const name of subFolders(tree)) {
      const match = /^(?:probe-)?(\d+)$/.exec(name);
      if (!match || Number(match[1]) === process.pid || pidAlive(Number(match[1]))) continue;
      const dir = join(tree, name);
      const leaves = name.startsWith('probe-')
        ? []
        : subFolders(dir).map((leaf) => join(dir, leaf));
      const kill = () => {
        for (const leaf of leaves) killProcs(leaf);
      };
      kill();
      if (await removeFolders(leaves, kill)) removed.push(...leaves);
      if (removeIfEmpty(dir)) removed.push(dir);
    }
  }
  return removed;
}
