export { cleanupStale } from './cleanup-stale.js';
export { type DetectOptions, detectHostLimits, formatHostLimits } from './detect.js';
export { describeChanges } from './limits-change.js';
export { type Enforcement, type PrepareOptions, TenantLimits } from './tenant-limits.js';
export type {
  CgroupController,
  CgroupPlacement,
  HostLimitsReport,
  LimitLayer,
  ProcessSample,
  Violation,
} from './types.js';
export {
  type Sampler,
  Watchdog,
  type WatchdogOptions,
  type WatchHandle,
  type WatchHooks,
} from './watchdog.js';
