import type { Limits } from '../../core/config.js';
import type { CgroupController } from './types.js';

/** One tenant child's cgroup (one folder in v2, one per hierarchy in v1). */
export interface TenantCgroup {
  readonly version: 1 | 2;
  /** The leaf folders. */
  readonly dirs: readonly string[];
  /** The controllers the leaf has. */
  readonly controllers: readonly CgroupController[];
  /** Files the child writes its pid into before its program runs. */
  readonly procsFiles: readonly string[];
  /** Per controller, the limit written, as text for `describe()`. */
  readonly enforcement: Partial<Record<CgroupController, string>>;
  /** Writes new limits into the cgroup of the running child; throws if the kernel refuses one. */
  update(limits: Limits): void;
  /** Every process in the cgroup now. */
  members(): number[];
  /** Kills every process in the cgroup, grandchildren and setsid() escapees included. */
  kill(): void;
  /** OOM kills inside the cgroup so far, when the memory controller reports them. */
  oomKills(): number | undefined;
  /** Kills what is left, waits for the folders to empty and removes them. */
  remove(): Promise<boolean>;
}

let sequence = 0;

/** `<tenant>-<n>`: unique within this supervisor, even for one tenant's many children. */
export function nextLeafName(tenantId: string): string {
  sequence += 1;
  return `${tenantId}-${sequence}`;
}
