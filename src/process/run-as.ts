/**
 * Starting a tenant's child as its own user (`user:` / `group:`).
 *
 * The switch is made by util-linux `setpriv`, exec'd as the very last step
 * before the program: the limits prologue must still be root to join the
 * child's cgroup and raise rlimits, and `setpriv --clear-groups` drops the
 * supplementary groups explicitly (root's groups must not follow the child).
 * setpriv execs, so the program keeps the pid, process group and pipes the
 * supervisor knows. Node's own `uid`/`gid` spawn options would switch before
 * the prologue runs, when it can no longer join a root-owned cgroup.
 */

import { delimiter } from 'node:path';
import type { RunAs } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { SpawnIdentity, SpawnPlan } from './child-process.js';
import { findExecutable } from './find-executable.js';

/** Where setpriv usually is, for a supervisor started with a short PATH. */
const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

/** util-linux `setpriv`, on PATH or in the system folders. */
export function findSetpriv(path = process.env.PATH ?? ''): string | undefined {
  return findExecutable('setpriv', [...path.split(delimiter), ...SYSTEM_DIRS]);
}

/** Why this supervisor cannot start a child as `runAs`, with the fix; undefined when it can. */
export function runAsProblem(
  tenantId: string,
  runAs: RunAs,
  euid: number | undefined,
  setpriv: string | undefined,
): { detail: string; fix: string } | undefined {
  if (euid !== 0) {
    const self = euid === undefined ? 'not on a POSIX system' : `runs as uid ${euid}`;
    return {
      detail: `tenant "${tenantId}" is set to run as ${runAs.user}, group ${runAs.group}, but the supervisor ${self}: only root can start a child as another user`,
      fix: `run \`mcp-tenants serve\` as root, or remove user and group from tenant ${tenantId} (and from defaults) in the manifest`,
    };
  }
  if (setpriv === undefined) {
    return {
      detail: `tenant "${tenantId}" is set to run as ${runAs.user}, and that needs setpriv (util-linux), which is not on PATH`,
      fix: 'install util-linux (e.g. `apt-get install util-linux`, `apk add setpriv`), or remove user and group from the tenant',
    };
  }
  return undefined;
}

/** The identity to start the tenant's child with; throws CHILD_UNAVAILABLE when impossible. */
export function spawnIdentity(
  tenantId: string,
  runAs: RunAs,
  euid: number | undefined = process.geteuid?.(),
): SpawnIdentity {
  const setpriv = findSetpriv();
  const problem = runAsProblem(tenantId, runAs, euid, setpriv);
  if (problem !== undefined) {
    throw new McpTenantsError(ErrorCode.CHILD_UNAVAILABLE, `${problem.detail}; ${problem.fix}`, {
      data: { tenant: tenantId, uid: runAs.uid, gid: runAs.gid },
    });
  }
  // runAsProblem has said why when setpriv is missing.
  return { uid: runAs.uid, gid: runAs.gid, setpriv: setpriv as string };
}

/** The program's argv, behind setpriv when the plan has an identity. */
export function programArgv(plan: SpawnPlan): string[] {
  const { identity } = plan;
  if (identity === undefined) return [plan.command, ...plan.args];
  return [
    identity.setpriv,
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    '--clear-groups',
    '--',
    plan.command,
    ...plan.args,
  ];
}

/** The plan that starts the program through setpriv; `plan` itself without an identity. */
export function applyIdentity(plan: SpawnPlan): SpawnPlan {
  if (plan.identity === undefined) return plan;
  const [command, ...args] = programArgv(plan);
  return { ...plan, command: command as string, args, identity: undefined };
}
