import type { TenantConfig } from '../core/config.js';
import type { RelayedChild } from './relayed-child.js';

/** How often an elastic tenant's load is looked at. */
const SAMPLE_MS = 1_000;
/** Busy this many samples in a row: one more child. */
const BUSY_SAMPLES = 3;
/** A child with this many requests in it at once is busy (it queues behind them). */
const BUSY_IN_FLIGHT = 4;
/** …or one using this share of its `cpu` limit (of one core without one). */
const BUSY_CPU_SHARE = 0.8;

/** The instance a new session or stateless request should go to: fewest sessions and requests. */
export function leastBusy(first: RelayedChild, others: readonly RelayedChild[]): RelayedChild {
  let best = first;
  let bestLoad = loadOf(first);
  for (const other of others) {
    // An extra that stopped (idle) is about to be let go: nothing new for it.
    if (other.pid === undefined && other.slot.state !== 'starting') continue;
    const load = loadOf(other);
    if (load < bestLoad) {
      best = other;
      bestLoad = load;
    }
  }
  return best;
}

function loadOf(relayed: RelayedChild): number {
  return relayed.relay.requestsInChild + relayed.relay.sessionCount;
}

export interface ElasticScalerOptions {
  tenants: () => Iterable<TenantConfig>;
  /** The tenant's children: its shared one first, then the extras. */
  instances: (tenantId: string) => RelayedChild[];
  add: (tenant: TenantConfig) => void;
  remove: (tenantId: string, extra: RelayedChild) => void;
}

/**
 * `max_instances`: a tenant whose every child stays busy (requests piling
 * up in it, or its CPU near its limit) for a few seconds gets one more, up
 * to the limit; new sessions and stateless requests go to the least busy.
 * An extra that stopped after `idle_timeout_ms` without requests is let go.
 * Limits apply to each child (a cgroup each); quotas to the tenant as a whole.
 */
export class ElasticScaler {
  private timer: NodeJS.Timeout | undefined;
  private readonly streaks = new Map<string, number>();

  constructor(private readonly options: ElasticScalerOptions) {}

  /** Starts sampling (idempotent): an elastic tenant has a child now. */
  watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    for (const tenant of this.options.tenants()) {
      if (tenant.max_instances <= 1) continue;
      const instances = this.options.instances(tenant.id);
      if (instances.length === 0) continue;
      for (const extra of instances.slice(1)) {
        const idle = extra.relay.sessionCount === 0 && extra.relay.requestsInChild === 0;
        if (idle && extra.pid === undefined && extra.slot.state !== 'starting') {
          this.options.remove(tenant.id, extra);
        }
      }
      const running = instances.filter((instance) => instance.pid !== undefined);
      const busy = running.length > 0 && running.every((instance) => isBusy(instance, tenant));
      const streak = busy ? (this.streaks.get(tenant.id) ?? 0) + 1 : 0;
      if (streak >= BUSY_SAMPLES && instances.length < tenant.max_instances) {
        this.options.add(tenant);
        this.streaks.set(tenant.id, 0);
      } else {
        this.streaks.set(tenant.id, streak);
      }
    }
  }
}

function isBusy(instance: RelayedChild, tenant: TenantConfig): boolean {
  if (instance.relay.requestsInChild >= BUSY_IN_FLIGHT) return true;
  const cores = instance.slot.cpuCores;
  return cores !== undefined && cores >= (tenant.limits.cpu ?? 1) * BUSY_CPU_SHARE;
}
