import type { Cancellation } from '../core/pipeline.js';

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
  | { refused: 'timeout'; waitedMs: number }
  | { refused: 'cancelled' };

interface Waiter {
  /** Ends the wait (once) with a slot or a refusal. */
  settle: (outcome: (() => void) | SlotRefusal) => void;
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

  /**
   * A release function once a slot is held, or why none was given. A
   * waiting request that is cancelled leaves the queue at once.
   */
  acquire(
    tenantId: string,
    limits: SlotLimits,
    cancellation?: Cancellation,
  ): Promise<(() => void) | SlotRefusal> {
    const slots = this.slots(tenantId, limits);
    if (cancellation?.cancelled) return Promise.resolve({ refused: 'cancelled' });
    if (slots.inFlight < limits.concurrent) {
      slots.inFlight += 1;
      return Promise.resolve(this.releaser(tenantId, slots));
    }
    if (slots.queue.length >= limits.queue) {
      return Promise.resolve({ refused: 'full', inFlight: slots.inFlight });
    }
    return new Promise((resolve) => {
      const leave = (refusal: SlotRefusal): void => {
        const index = slots.queue.indexOf(waiter);
        if (index >= 0) slots.queue.splice(index, 1);
        if (slots.inFlight === 0 && slots.queue.length === 0) this.tenants.delete(tenantId);
        waiter.settle(refusal);
      };
      const timer = setTimeout(
        () => leave({ refused: 'timeout', waitedMs: limits.maxWaitMs }),
        limits.maxWaitMs,
      );
      timer.unref();
      const stopListening = cancellation?.onCancel(() => leave({ refused: 'cancelled' }));
      const waiter: Waiter = {
        settle: (outcome) => {
          clearTimeout(timer);
          stopListening?.();
          resolve(outcome);
        },
      };
      slots.queue.push(waiter);
    });
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
        slots.inFlight += 1;
        waiter.settle(this.releaser(tenantId, slots));
      }
      if (slots.inFlight === 0 && slots.queue.length === 0) this.tenants.delete(tenantId);
    };
  }
}
