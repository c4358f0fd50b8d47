import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { findExecutable } from '../find-executable.js';
import { removeIfEmpty, writeControl } from './cgroup-files.js';
import { ownCgroupDirs } from './cgroup-paths.js';
import { V1_UNLIMITED } from './cgroup-v1.js';
import { prepareTreeV2, V2_UNLIMITED } from './cgroup-v2.js';
import {
  CGROUP_CONTROLLERS,
  type CgroupController,
  type CgroupPlacement,
  type HostLimitsReport,
} from './types.js';
import { LIMITS_ARGV0, LIMITS_SCRIPT } from './wrap.js';

export interface DetectOptions {
  /** Text of /proc/self/mountinfo (tests); read from /proc when absent. */
  mountinfo?: string;
  /** Text of /proc/self/cgroup (tests). */
  procCgroup?: string;
  /** Probe again instead of answering from the cache. */
  refresh?: boolean;
}

const NPROC_NOTE =
  "RLIMIT_NPROC is not used: it counts every process of the user, and children share the supervisor's user (or a user: several tenants may share); pids are capped by the pids controller or reported by the watchdog";

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Starts a shell that joins the cgroups through the real wrapper script; undefined = it worked. */
function joinProblem(procsFiles: string[]): string | undefined {
  // Not execaSync: its error line names the command, here the whole prologue script.
  const result = spawnSync(
    '/bin/sh',
    ['-c', LIMITS_SCRIPT, LIMITS_ARGV0, ...procsFiles, '--', '--', '/bin/sh', '-c', 'exit 0'],
    { encoding: 'utf8', timeout: 5_000 },
  );
  if (result.status === 0) return undefined;
  return (result.stderr || result.error?.message || `exit ${result.status}`).trim();
}

/** mkdir a probe leaf in the tree, write, join, remove; undefined = all worked. */
function probeLeaf(tree: string, writes: [file: string, value: string][]): string | undefined {
  const leaf = join(tree, `probe-${process.pid}`);
  try {
    mkdirSync(leaf, { recursive: true });
    for (const [file, value] of writes) writeControl(leaf, file, value);
    return joinProblem([join(leaf, 'cgroup.procs')]);
  } catch (error) {
    return (error as Error).message;
  } finally {
    removeIfEmpty(leaf);
  }
}

function probeV2(own: string): { placement: CgroupPlacement } | { reason: string } {
  const prepared = prepareTreeV2(own);
  if ('reason' in prepared) return prepared;
  const writes = prepared.controllers.map((controller) => V2_UNLIMITED[controller]);
  const problem = probeLeaf(prepared.tree, writes);
  if (problem !== undefined) return { reason: `cannot use ${prepared.tree}: ${problem}` };
  return { placement: { version: 2, tree: prepared.tree, controllers: prepared.controllers } };
}

function probeV1(
  dirs: Partial<Record<CgroupController, string>>,
  notes: string[],
): { placement: CgroupPlacement } | { reason: string } {
  const trees: Partial<Record<CgroupController, string>> = {};
  const problems: string[] = [];
  for (const controller of CGROUP_CONTROLLERS) {
    const own = dirs[controller];
    if (own === undefined) {
      problems.push(`${controller}: no v1 hierarchy mounted`);
      continue;
    }
    const tree = join(own, 'mcp-tenants');
    const problem = probeLeaf(tree, [V1_UNLIMITED[controller]]);
    if (problem === undefined) trees[controller] = tree;
    else problems.push(`${controller}: ${problem}`);
  }
  if (Object.keys(trees).length === 0) return { reason: problems.join('; ') };
  for (const problem of problems) notes.push(`cgroup-v1 without ${problem}`);
  return { placement: { version: 1, trees } };
}

/** util-linux `prlimit` on PATH, if any. */
export function findPrlimit(path = process.env.PATH ?? ''): string | undefined {
  return findExecutable('prlimit', path.split(delimiter));
}

function detect(options: DetectOptions): HostLimitsReport {
  const report: HostLimitsReport = { active: [], unavailable: [], notes: [] };
  const mountinfo = options.mountinfo ?? readText('/proc/self/mountinfo');
  const procCgroup = options.procCgroup ?? readText('/proc/self/cgroup');
  if (mountinfo === undefined || procCgroup === undefined) {
    const reason = 'no /proc/self/mountinfo or /proc/self/cgroup (not Linux)';
    report.unavailable.push({ layer: 'cgroup-v2', reason }, { layer: 'cgroup-v1', reason });
  } else {
    const dirs = ownCgroupDirs(mountinfo, procCgroup);
    const v2 =
      dirs.v2 === undefined ? { reason: 'no cgroup2 file system mounted' } : probeV2(dirs.v2);
    if ('placement' in v2) {
      report.active.push('cgroup-v2');
      report.cgroup = v2.placement;
      report.unavailable.push({ layer: 'cgroup-v1', reason: 'superseded by cgroup-v2' });
    } else {
      report.unavailable.push({ layer: 'cgroup-v2', reason: v2.reason });
      const v1 =
        Object.keys(dirs.v1).length === 0
          ? { reason: 'no cgroup v1 hierarchy with memory, cpu or pids mounted' }
          : probeV1(dirs.v1, report.notes);
      if ('placement' in v1) {
        report.active.push('cgroup-v1');
        report.cgroup = v1.placement;
      } else {
        report.unavailable.push({ layer: 'cgroup-v1', reason: v1.reason });
      }
    }
  }
  if (process.platform !== 'win32' && existsSync('/bin/sh')) {
    report.active.push('rlimits');
    report.prlimit = findPrlimit();
    report.notes.push(NPROC_NOTE);
  } else {
    report.unavailable.push({ layer: 'rlimits', reason: 'no POSIX shell at /bin/sh' });
  }
  if (existsSync('/proc/self/stat')) report.active.push('watchdog');
  else report.unavailable.push({ layer: 'watchdog', reason: 'no /proc to sample processes from' });
  return report;
}

let cached: HostLimitsReport | undefined;

/**
 * Finds the strongest limits this host enforces, by really creating,
 * writing and joining a probe cgroup (then removing it). Cached: the probe
 * runs once per process unless `refresh` is set or the inputs are given.
 */
export function detectHostLimits(options: DetectOptions = {}): HostLimitsReport {
  const custom = options.mountinfo !== undefined || options.procCgroup !== undefined;
  if (custom) return detect(options);
  if (!cached || options.refresh) cached = detect(options);
  return cached;
}

/** One line for logs and `doctor`: what is active and why the rest is not. */
export function formatHostLimits(report: HostLimitsReport): string {
  const missing = report.unavailable.map(({ layer, reason }) => `${layer} (${reason})`);
  return `limits: ${report.active.join(' + ') || 'none'}${missing.length ? `; unavailable: ${missing.join('; ')}` : ''}`;
}
