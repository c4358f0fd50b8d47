import { join } from 'node:path';
import type { CgroupController } from './types.js';

/** One cgroup mount from `/proc/self/mountinfo`. */
export interface CgroupMount {
  /** The path inside the hierarchy this mount shows (usually `/`). */
  root: string;
  mountPoint: string;
  version: 1 | 2;
  /** v1: the controllers bound to this hierarchy (`name=...` entries left out). */
  controllers: string[];
}

/** Undoes mountinfo's octal escapes (`\040` for a space). */
function unescapeOctal(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** Mount options of a v1 hierarchy that are not controller names. */
const NOT_CONTROLLERS = new Set([
  'rw',
  'ro',
  'xattr',
  'noprefix',
  'clone_children',
  'cpuset_v2_mode',
]);

/** The cgroup and cgroup2 mounts listed in a mountinfo text. */
export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const before = line.slice(0, separator).split(' ');
    const [fsType, , superOptions = ''] = line.slice(separator + 3).split(' ');
    const root = before[3];
    const mountPoint = before[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      root: unescapeOctal(root),
      mountPoint: unescapeOctal(mountPoint),
      version: fsType === 'cgroup2' ? 2 : 1,
      controllers:
        fsType === 'cgroup2'
          ? []
          : superOptions
              .split(',')
              .filter((option) => /^[a-z_]+$/.test(option) && !NOT_CONTROLLERS.has(option)),
    });
  }
  return mounts;
}

/** The process's cgroup per hierarchy, from `/proc/self/cgroup`: `''` keys the v2 entry. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers = '', path = '/'] = match;
    if (id === '0' && controllers === '') paths.set('', path);
    else for (const controller of controllers.split(',')) paths.set(controller, path);
  }
  return paths;
}

/** Where the process's own cgroup appears below a mount, or undefined if outside it. */
export function dirBelowMount(mount: CgroupMount, cgroupPath: string): string | undefined {
  if (cgroupPath === '/' || cgroupPath === mount.root) return mount.mountPoint;
  if (mount.root === '/') return join(mount.mountPoint, cgroupPath);
  if (cgroupPath.startsWith(`${mount.root}/`)) {
    return join(mount.mountPoint, cgroupPath.slice(mount.root.length));
  }
  return undefined;
}

/** The supervisor's own cgroup folders: v2 (if mounted) and each v1 controller's. */
export function ownCgroupDirs(
  mountinfo: string,
  procCgroup: string,
): { v2?: string; v1: Partial<Record<CgroupController, string>> } {
  const mounts = parseMountinfo(mountinfo);
  const paths = parseProcCgroup(procCgroup);
  const result: { v2?: string; v1: Partial<Record<CgroupController, string>> } = { v1: {} };
  const v2Path = paths.get('');
  const v2Mount = mounts.find((mount) => mount.version === 2);
  if (v2Mount && v2Path !== undefined) {
    const dir = dirBelowMount(v2Mount, v2Path);
    if (dir !== undefined) result.v2 = dir;
  }
  for (const controller of ['memory', 'cpu', 'pids'] as const) {
    const mount = mounts.find(
      (candidate) => candidate.version === 1 && candidate.controllers.includes(controller),
    );
    const path = paths.get(controller);
    if (!mount || path === undefined) continue;
    const dir = dirBelowMount(mount, path);
    if (dir !== undefined) result.v1[controller] = dir;
  }
  return result;
}
