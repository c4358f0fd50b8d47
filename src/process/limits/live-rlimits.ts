import { existsSync, readFileSync } from 'node:fs';
import { execa, type Result } from 'execa';
import { prlimitArgs, type Rlimit, type RlimitResource } from './rlimits.js';

/**
 * Changing the rlimits of processes that already run: `prlimit --pid`, which
 * a root supervisor may use on a child of any user. A limit no longer set
 * goes back to the supervisor's own value: what a child started without it
 * would have inherited.
 */

// Every failure comes back as a result (reject: false). A prlimit that ignores
// the timeout's SIGTERM gets SIGKILL 5 s later, so an update cannot hang on it.
const PRLIMIT_OPTIONS = { timeout: 5_000, reject: false } as const;
type PrlimitResult = Result<typeof PRLIMIT_OPTIONS>;

const RESOURCES: readonly RlimitResource[] = ['nofile', 'data'];

/** The line of each resource in `/proc/<pid>/limits`. */
const LIMITS_LINE: Record<RlimitResource, string> = {
  nofile: 'Max open files',
  data: 'Max data size',
};

/** `soft:hard` of the supervisor's own limit (`unlimited` spelled out), or undefined. */
export function ownRlimit(resource: RlimitResource, limitsText?: string): string | undefined {
  let text = limitsText;
  try {
    text ??= readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const line = text.split('\n').find((candidate) => candidate.startsWith(LIMITS_LINE[resource]));
  const [soft, hard] = line?.slice(LIMITS_LINE[resource].length).trim().split(/\s+/) ?? [];
  return soft && hard ? `${soft}:${hard}` : undefined;
}

/** `prlimit` options that take a process from `before` to `after`; [] when nothing changes. */
export function prlimitChanges(
  before: readonly Rlimit[],
  after: readonly Rlimit[],
  own: (resource: RlimitResource) => string | undefined = ownRlimit,
): string[] {
  const args: string[] = [];
  for (const resource of RESOURCES) {
    const was = before.find((limit) => limit.resource === resource);
    const now = after.find((limit) => limit.resource === resource);
    if (was?.value === now?.value) continue;
    if (now) {
      args.push(...prlimitArgs([now]));
      continue;
    }
    const inherited = own(resource);
    if (inherited === undefined) {
      throw new Error(
        `the supervisor's own ${resource} limit is unknown, so it cannot be restored`,
      );
    }
    args.push(`--${resource}=${inherited}`);
  }
  return args;
}

/**
 * Applies `args` to every process given. One that exited meanwhile needs no
 * limit; any other refusal throws, naming the process and prlimit's reason.
 */
export async function setRlimitsOf(
  prlimit: string,
  pids: readonly number[],
  args: readonly string[],
): Promise<void> {
  if (args.length === 0) return;
  for (const pid of pids) {
    const result = await execa(prlimit, ['--pid', String(pid), ...args], PRLIMIT_OPTIONS);
    if (result.failed && existsSync(`/proc/${pid}`)) throw refusal(pid, args, result);
  }
}

function refusal(pid: number, args: readonly string[], result: PrlimitResult): Error {
  const stderr = result.stderr.trim();
  // Root in a container may lack CAP_SYS_RESOURCE: then it can only lower its own user's limits.
  const hint = /not permitted/.test(stderr)
    ? ' (raising a hard limit, or changing a child of another user, needs CAP_SYS_RESOURCE)'
    : '';
  // Without stderr, execa's line says what happened (exit code, ENOENT, timed out) and to which command.
  const reason = stderr || result.shortMessage;
  return new Error(`prlimit ${args.join(' ')} on process ${pid}: ${reason}${hint}`, {
    cause: result,
  });
}
