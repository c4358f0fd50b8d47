/**
 * Words shared by the resource-limit layers: which layer enforces what, what
 * the host offers (the host limits report) and what the watchdog observes.
 */

/** Enforcement layers, strongest first. */
export type LimitLayer = 'cgroup-v2' | 'cgroup-v1' | 'rlimits' | 'watchdog';

/** The cgroup controllers mcp-tenants uses. */
export type CgroupController = 'memory' | 'cpu' | 'pids';

export const CGROUP_CONTROLLERS: readonly CgroupController[] = ['memory', 'cpu', 'pids'];

/**
 * Where tenant cgroups go: `<tree>/<instance>/<tenant>-<n>`, with `tree` =
 * `<the supervisor's own cgroup>/mcp-tenants`, so tenants nest inside whatever
 * limits already apply to the supervisor.
 */
export type CgroupPlacement =
  | { version: 2; tree: string; controllers: CgroupController[] }
  | { version: 1; trees: Partial<Record<CgroupController, string>> };

export interface HostLimitsReport {
  /** Layers that work on this host, strongest first; `watchdog` whenever /proc exists. */
  active: LimitLayer[];
  /** Why each missing layer is missing. */
  unavailable: { layer: LimitLayer; reason: string }[];
  /** Partial availability worth knowing (a missing controller, RLIMIT_NPROC, ...). */
  notes: string[];
  /** Set when a cgroup layer is active. */
  cgroup?: CgroupPlacement | undefined;
  /** util-linux `prlimit`, when installed; otherwise the shell's `ulimit` applies rlimits. */
  prlimit?: string | undefined;
}

/** One sample of a child's whole process group (or cgroup). */
export interface ProcessSample {
  /** Milliseconds, from the watchdog's clock. */
  at: number;
  /** Resident memory summed over every member. */
  rssBytes: number;
  /** User + system CPU time of the members, including their reaped children. */
  cpuSeconds: number;
  /** CPU use since the previous sample, in cores (0 on the first sample). */
  cores: number;
  /** Tasks (threads) of every member: what `pids.max` counts. */
  pids: number;
  processes: number;
  /** Fraction of time the group may run while throttled; 1 when not throttled. */
  duty: number;
}

export type Violation =
  | { kind: 'memory'; pgid: number; rssBytes: number; limitBytes: number }
  | {
      kind: 'cpu';
      pgid: number;
      /** CPU use over the last sustained window, in cores. */
      cores: number;
      limitCores: number;
      /** What the watchdog did about it. */
      action: 'throttle' | 'record';
    }
  | { kind: 'pids'; pgid: number; pids: number; limit: number };
