export interface SlotLimits {
  /** Requests in flight at once (`max_concurrent_requests`). */
  concurrent: number;
  /** Requests that may wait for a slot (`max_queue`); more are refused. */
  queue: number;
  /** How long a request may wait for a slot before it is refused. */
  maxWaitMs: number;
}

export type SlotRefusal =
  | { refused: 'full'; inFlight: number }
  | { refused: 'timeout'; waitedMs: number };

interface Waiter {
  grant: (release: () => void) => void;
  timer: NodeJS.Timeout;
}

interface TenantSlots {
  inFlight: number;
  queue: Waiter[];
  /** The limits of the latest request, so a reload applies as slots free up. */
  limits: SlotLimits;
}

/**
 * `max_concurrent_requests` per tenant, in this process: a request takes a
 * slot or, when all are taken, waits in a queue of at most `max_queue`
 * (oldest first, never longer than `maxWaitMs`), or is refused at once.
 * A slot is taken synchronously, so requests sent together are admitted in
 * the order they arrive.
 */
export class ConcurrencyLimiter {
  private readonly tenants = new Map<string, TenantSlots>();

  /** A release function once a slot is held, or why none was given. */
  acquire(tenantId: string, limits: SlotLimits): Promise<(() => void) | SlotRefusal> {
    const slots = this.slots(tenantId, limits);
    if (slots.inFlight < limits.concurrent) {
      slots.inFlight += 1;
      return Promise.resolve(this.releaser(tenantId, slots));
    }
    if (slots.queue.length >= limits.queue) {
      return Promise.resolve({ refused: 'full', inFlight: slots.inFlight });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        grant: resolve,
        timer: setTimeout(() => {
          slots.queue.splice(slots.queue.indexOf(waiter), 1);
          resolve({ refused: 'timeout', waitedMs: limits.maxWaitMs });
        }, limits.maxWaitMs),
      };
      waiter.timer.unref();
      slots.queue.push(waiter);
    });
  }

  /** Requests in flight for a tenant (for tests and status). */
  inFlight(tenantId: string): number {
    return this.tenants.get(tenantId)?.inFlight ?? 0;
  }

  private slots(tenantId: string, limits: SlotLimits): TenantSlots {
    let slots = this.tenants.get(tenantId);
    if (!slots) {
      slots = { inFlight: 0, queue: [], limits };
      this.tenants.set(tenantId, slots);
    }
    slots.limits = limits;
    return slots;
  }

  private releaser(tenantId: string, slots: TenantSlots): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      slots.inFlight -= 1;
      while (slots.inFlight < slots.limits.concurrent && slots.queue.length > 0) {
        const waiter = slots.queue.shift() as Waiter;
        clearTimeout(waiter.timer);
        slots.inFlight += 1;
        waiter.grant(this.releaser(tenantId, slots));
      }
      if (slots.inFlight === 0 && slots.queue.length === 0) this.tenants.delete(tenantId);
    };
  }
}
