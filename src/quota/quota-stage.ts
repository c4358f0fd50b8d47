import type { TenantConfig } from '../core/config.js';
import { JsonRpcCode } from '../core/errors.js';
import { errorResponse, type JsonRpcRequest } from '../core/jsonrpc.js';
import type { RequestStage } from '../core/pipeline.js';
import type { ConcurrencyLimiter } from './concurrency.js';
import { concurrencyRefused, retryLater, storageRefused } from './quota-errors.js';
import type { UsageCounters } from './shared-counters.js';
import type { StorageSampler } from './storage-sampler.js';
import { usageChecks } from './usage-checks.js';

/**
 * Requests no rate or concurrency quota refuses: keeping the connection
 * alive, choosing a log level, and subscription bookkeeping (answered by the
 * supervisor, which holds each session to `max_subscriptions_per_session`).
 */
export const QUOTA_EXEMPT_METHODS: ReadonlySet<string> = new Set([
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);

/** The one thing quota needs to know of the tenant's tool listing. */
export interface ReadOnlyTools {
  isReadOnlyTool(tenantId: string, tool: string): boolean;
}

export interface QuotaStageDeps {
  counters: UsageCounters;
  slots: ConcurrencyLimiter;
  storage: StorageSampler;
  /** Which tools the tenant's own listing marks read-only (the policy stage learns them). */
  readOnlyTools: ReadOnlyTools;
  /** The tenant's data folder, whose size third-party children are held to. */
  tenantDir: (tenantId: string) => string;
}

/**
 * The quota stage: storage (third-party children; the built-in server checks
 * its own), then a slot among `max_concurrent_requests`, then the counted
 * limits. A refused request is answered at once with why and when to retry,
 * and is not counted; the child never sees it.
 */
export function quotaStage(deps: QuotaStageDeps): RequestStage {
  return async (context, next) => {
    const { tenant, request } = context;
    if (QUOTA_EXEMPT_METHODS.has(request.method)) return next(request);
    checkStorage(deps, tenant, request);
    const quotas = tenant.quotas;
    const slot = await deps.slots.acquire(
      tenant.id,
      {
        concurrent: quotas.max_concurrent_requests,
        queue: quotas.max_queue,
        maxWaitMs: tenant.request_timeout_ms,
      },
      context.cancellation,
    );
    if (typeof slot !== 'function') {
      if (slot.refused === 'cancelled')
        return errorResponse(
          request.id,
          JsonRpcCode.REQUEST_CANCELLED,
          'cancelled while waiting for a slot',
        );
      const waited = slot.refused === 'timeout' ? slot.waitedMs : undefined;
      throw concurrencyRefused(tenant.id, quotas.max_concurrent_requests, quotas.max_queue, waited);
    }
    try {
      const { checks, counters } = usageChecks(
        tenant,
        context.session.caller.userId,
        request.method,
      );
      const decided = deps.counters.tryAdmit(counters);
      // Awaited only when the store had to be asked: a decision from memory stays synchronous.
      const admission = decided instanceof Promise ? await decided : decided;
      if (!admission.admitted) {
        // Refused means refused: no path on to the child, even for an index out of range.
        const refused = checks[admission.refused];
        throw retryLater(refused?.describe() ?? 'quota exceeded', {
          quota: refused?.quota ?? 'unknown',
          limit: refused?.check.limit ?? 0,
          retryAfterMs: admission.retryAfterMs,
        });
      }
      return await next(request);
    } finally {
      slot();
    }
  };
}

function checkStorage(deps: QuotaStageDeps, tenant: TenantConfig, request: JsonRpcRequest): void {
  if (tenant.command === undefined || request.method !== 'tools/call') return;
  const tool = String(request.params?.name);
  if (deps.readOnlyTools.isReadOnlyTool(tenant.id, tool)) return;
  const used = deps.storage.usedBytes(tenant.id, deps.tenantDir);
  const limitBytes = tenant.quotas.max_storage_mb * 1024 * 1024;
  if (used !== undefined && used >= limitBytes) {
    throw storageRefused(tenant.id, used, tenant.quotas.max_storage_mb, tool);
  }
}
