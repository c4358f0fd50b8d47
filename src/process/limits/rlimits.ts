import { basename } from 'node:path';
import type { Limits } from '../../core/config.js';

/**
 * Per-process limits (setrlimit) and the V8 heap cap. These are the fallback
 * when no cgroup enforces memory, and the only way to cap open files.
 *
 * - RLIMIT_NOFILE caps open files (`open_files`).
 * - RLIMIT_DATA caps a process's writable private memory (`memory_mb`). Never
 *   RLIMIT_AS: V8 reserves far more address space than it uses and a Node
 *   child would not start. Each process gets its own RLIMIT_DATA; it does not
 *   add up over a tree the way a cgroup does.
 * - RLIMIT_NPROC is not used: it counts every process of the user, and the
 *   children share the supervisor's user (root ignores it altogether) or a
 *   `user:` that several tenants may share.
 */

export type RlimitResource = 'nofile' | 'data';

export interface Rlimit {
  resource: RlimitResource;
  /** Soft and hard value alike: files, or bytes for `data`. */
  value: number;
}

const MIB = 1024 * 1024;

/** Node hangs at start-up under ~48 MiB of RLIMIT_DATA (its threads cannot start). */
export const NODE_MIN_DATA_BYTES = 64 * MIB;

/** The V8 old-space cap for a memory limit: ~75%, leaving room for buffers and code. */
export function nodeHeapMb(memoryMb: number): number {
  return Math.max(16, Math.floor(memoryMb * 0.75));
}

const NODE_COMMANDS = new Set(['node', 'nodejs']);
/** Launchers that run Node and pass NODE_OPTIONS on to the server they start. */
const NODE_LAUNCHERS = new Set(['npx', 'npm', 'pnpm', 'pnpx', 'yarn', 'tsx']);

export function isNodeCommand(command: string): boolean {
  return command === process.execPath || NODE_COMMANDS.has(basename(command));
}

export function isNodeLauncher(command: string): boolean {
  return NODE_LAUNCHERS.has(basename(command));
}

/** The rlimits a child gets; `data` only when no cgroup enforces memory already. */
export function rlimitsFor(
  limits: Limits,
  command: string,
  memoryEnforcedByCgroup: boolean,
): Rlimit[] {
  const result: Rlimit[] = [];
  if (limits.open_files !== undefined)
    result.push({ resource: 'nofile', value: limits.open_files });
  if (limits.memory_mb !== undefined && !memoryEnforcedByCgroup) {
    const bytes = limits.memory_mb * MIB;
    const nodeLike = isNodeCommand(command) || isNodeLauncher(command);
    result.push({
      resource: 'data',
      value: nodeLike ? Math.max(bytes, NODE_MIN_DATA_BYTES) : bytes,
    });
  }
  return result;
}

/** `prlimit` options, e.g. `--nofile=64:64`. */
export function prlimitArgs(rlimits: readonly Rlimit[]): string[] {
  return rlimits.map(({ resource, value }) => `--${resource}=${value}:${value}`);
}

/** `ulimit` flag and value pairs for a POSIX shell (data in KiB), e.g. `-n 64`. */
export function ulimitArgs(rlimits: readonly Rlimit[]): string[] {
  return rlimits.flatMap(({ resource, value }) =>
    resource === 'nofile' ? ['-n', String(value)] : ['-d', String(Math.ceil(value / 1024))],
  );
}
