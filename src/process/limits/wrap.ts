import type { SpawnPlan } from '../child-process.js';
import { programArgv } from '../run-as.js';
import {
  isNodeCommand,
  isNodeLauncher,
  nodeHeapMb,
  prlimitArgs,
  type Rlimit,
  ulimitArgs,
} from './rlimits.js';

/**
 * The shell prologue that puts a child under its limits before its real
 * program runs: it writes its own pid into each `cgroup.procs` file (so
 * nothing the program forks can start outside the cgroup), applies rlimits
 * with `ulimit` when there is no `prlimit`, then execs the program — same pid,
 * same process group. Paths, limits and argv are positional parameters,
 * never part of the script text. Exit code 125: a cgroup or rlimit could not
 * be applied; 126/127: the program cannot be run.
 *
 *   sh -c SCRIPT mcp-tenants-limits <procs files...> -- <ulimit pairs...> -- <argv...>
 */
export const LIMITS_SCRIPT = [
  'while [ "$1" != -- ]; do',
  '  echo $$ > "$1" || { echo "mcp-tenants-limits: cannot join $1" >&2; exit 125; }',
  '  shift',
  'done',
  'shift',
  'while [ "$1" != -- ]; do',
  '  ulimit "$1" "$2" || { echo "mcp-tenants-limits: cannot set ulimit $1 $2" >&2; exit 125; }',
  '  shift 2',
  'done',
  'shift',
  'exec "$@"',
].join('\n');

export const LIMITS_ARGV0 = 'mcp-tenants-limits';

export interface WrapInput {
  /** `cgroup.procs` files to join, one per hierarchy. */
  procsFiles: readonly string[];
  rlimits: readonly Rlimit[];
  /** Path of util-linux `prlimit`; without it the shell's `ulimit` applies rlimits. */
  prlimit?: string | undefined;
  /** V8 old-space cap for Node children, in MiB. */
  memoryMb?: number | undefined;
  shell?: string;
}

/** Adds `--max-old-space-size` for a Node child: as an argument, or in NODE_OPTIONS for a launcher. */
export function withNodeHeapCap(plan: SpawnPlan, memoryMb: number | undefined): SpawnPlan {
  if (memoryMb === undefined) return plan;
  const flag = `--max-old-space-size=${nodeHeapMb(memoryMb)}`;
  const setAlready = (text: string) => text.includes('--max-old-space-size');
  if (isNodeCommand(plan.command)) {
    if (plan.args.some(setAlready) || setAlready(plan.env.NODE_OPTIONS ?? '')) return plan;
    return { ...plan, args: [flag, ...plan.args] };
  }
  if (isNodeLauncher(plan.command)) {
    const current = plan.env.NODE_OPTIONS ?? '';
    if (setAlready(current)) return plan;
    return { ...plan, env: { ...plan.env, NODE_OPTIONS: current ? `${current} ${flag}` : flag } };
  }
  return plan;
}

/**
 * The plan that starts `plan` under its limits; `plan` itself when there is
 * nothing to apply. A plan with an identity switches user last (setpriv
 * after prlimit): joining a cgroup and raising an rlimit need root.
 */
export function wrapPlan(plan: SpawnPlan, input: WrapInput): SpawnPlan {
  const inner = withNodeHeapCap(plan, input.memoryMb);
  // Unwrapped, the identity switch is ChildLink.open's (it applies it to every plan).
  if (input.procsFiles.length === 0 && input.rlimits.length === 0) return inner;
  const usePrlimit = input.prlimit !== undefined && input.rlimits.length > 0;
  const program = programArgv(inner);
  const argv = usePrlimit
    ? [input.prlimit as string, ...prlimitArgs(input.rlimits), '--', ...program]
    : program;
  return {
    command: input.shell ?? '/bin/sh',
    args: [
      '-c',
      LIMITS_SCRIPT,
      LIMITS_ARGV0,
      ...input.procsFiles,
      '--',
      ...(usePrlimit ? [] : ulimitArgs(input.rlimits)),
      '--',
      ...argv,
    ],
    cwd: inner.cwd,
    env: inner.env,
    ipc: inner.ipc,
  };
}
