import { readFileSync } from 'node:fs';
import {
  dirBelowMount,
  parseMountinfo,
  parseProcCgroup,
} from '../../src/process/limits/cgroup-paths.js';
import type { CgroupController } from '../../src/process/limits/types.js';

/**
 * The folder of a running process's cgroup for one controller, read from
 * `/proc/<pid>/cgroup`: its v1 hierarchy when the controller has one, else
 * the v2 tree.
 */
export function cgroupDirOf(pid: number, controller: CgroupController): string {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const paths = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  const v1 = mounts.find((mount) => mount.version === 1 && mount.controllers.includes(controller));
  const v1Path = paths.get(controller);
  const v2 = mounts.find((mount) => mount.version === 2);
  const v2Path = paths.get('');
  const dir =
    v1 && v1Path !== undefined
      ? dirBelowMount(v1, v1Path)
      : v2 && v2Path !== undefined
        ? dirBelowMount(v2, v2Path)
        : undefined;
  if (dir === undefined) throw new Error(`process ${pid} has no ${controller} cgroup`);
  return dir;
}

/** One control file of a running process's cgroup, trimmed. */
export function cgroupFileOf(pid: number, controller: CgroupController, file: string): string {
  return readFileSync(`${cgroupDirOf(pid, controller)}/${file}`, 'utf8').trim();
}
