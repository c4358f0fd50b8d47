import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupController } from './types.js';

/**
 * Plain file operations on cgroup folders, shared by v1 and v2: writing the
 * controllers' files, reading the member list, killing every member, and
 * removing a folder once empty.
 */

export function writeControl(dir: string, file: string, value: string): void {
  writeFileSync(join(dir, file), value);
}

type ControlWrite = [file: string, value: string];

/** What one controller's files get for a set of limits, and what it then enforces. */
export interface ControllerWrites {
  /** In order. */
  writes: ControlWrite[];
  /** Written only where the kernel has the file (memory.swap.max needs swap accounting). */
  optional?: ControlWrite[];
  /** For `describe()`; absent when the controller holds no limit. */
  enforced?: string;
}

/**
 * Writes each controller's files into its folder, in the order given, and
 * returns what each now enforces. One function for a new cgroup and for a
 * running child's, so both always hold the same values for the same limits.
 */
export function writeControllers(
  targets: readonly { controller: CgroupController; dir: string }[],
  writesOf: (controller: CgroupController) => ControllerWrites,
): Partial<Record<CgroupController, string>> {
  const enforcement: Partial<Record<CgroupController, string>> = {};
  for (const { controller, dir } of targets) {
    const { writes, optional = [], enforced } = writesOf(controller);
    const present = optional.filter(([file]) => existsSync(join(dir, file)));
    for (const [file, value] of [...writes, ...present]) writeNamed(dir, file, value);
    if (enforced !== undefined) enforcement[controller] = enforced;
  }
  return enforcement;
}

/** A failed write of a control file says which file and value (Node's message names neither). */
function writeNamed(dir: string, file: string, value: string): void {
  try {
    writeControl(dir, file, value);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(`${join(dir, file)} refused "${value}" (${code})`, { cause: error });
  }
}

/** The pids listed in `<dir>/cgroup.procs` ([] when the folder is gone). */
export function readProcs(dir: string): number[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
}

/** A `key value` line of a flat-keyed cgroup file (memory.events, memory.oom_control). */
export function readKeyed(file: string, key: string): number | undefined {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [name, value] = line.split(' ');
      if (name === key && value !== undefined) return Number(value);
    }
  } catch {
    // Missing file: the controller is not there.
  }
  return undefined;
}

/**
 * SIGKILLs every member of the folder, re-reading the list a few times so a
 * member that forks while being killed does not leave its child behind.
 */
export function killProcs(dir: string, passes = 10): void {
  for (let pass = 0; pass < passes; pass += 1) {
    const pids = readProcs(dir).filter((pid) => pid !== process.pid);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Kills what is left in the folders, waits until they are empty and removes
 * them. Resolves true once every folder is gone, false if one stays (still
 * busy after `timeoutMs`, or not a cgroup folder at all).
 */
export async function removeFolders(
  dirs: readonly string[],
  kill: () => void,
  timeoutMs = 3_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy = dirs.some((dir) => readProcs(dir).length > 0);
    if (!busy) break;
    if (Date.now() > deadline) return false;
    kill();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return dirs.map(tryRmdir).every(Boolean);
}

/** Removes the folder if it is empty of sub-folders; true when it is gone. */
export function removeIfEmpty(dir: string): boolean {
  return tryRmdir(dir);
}

/** Sub-folders of a cgroup folder (control files are regular files and left out). */
export function subFolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}
