import type { ServerConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import {
  cleanupStale,
  detectHostLimits,
  formatHostLimits,
  type HostLimitsReport,
  Watchdog,
} from './limits/index.js';

/** How this host enforces limits: what it offers, found once, and the one watchdog of all children. */
export interface HostLimits {
  report: HostLimitsReport;
  watchdog: Watchdog;
}

/**
 * Finds what the host can enforce (cgroup v2, v1, rlimits, watchdog), logs
 * it, and removes cgroups that supervisors killed earlier left behind —
 * killing any child still in them, so none outlives its supervisor.
 */
export function startHostLimits(server: ServerConfig, log: Logger): HostLimits {
  const report = detectHostLimits();
  log.info(formatHostLimits(report));
  cleanupStale(report.cgroup)
    .then((removed) => {
      if (removed.length > 0)
        log.info('removed cgroups left by earlier supervisors', { count: removed.length });
    })
    .catch((error: unknown) =>
      log.warn('could not remove cgroups left by earlier supervisors', {
        error: error instanceof Error ? error.message : String(error),
      }),
    );
  const watchdog = new Watchdog({
    intervalMs: server.watchdog_interval_ms,
    cpuEnforcement: server.cpu_over_limit,
  });
  return { report, watchdog };
}
