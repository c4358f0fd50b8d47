import type { TenantConfig } from '../core/config.js';
import type { CounterCheck } from './shared-counters.js';
import { DAY, MINUTE, MONTH } from './windows.js';

/** One counted limit of a request, with the words to explain a refusal. */
export interface UsageCheck {
  check: CounterCheck;
  quota: string;
  /** `rate limit exceeded: ...`, completed with the retry time. */
  describe: () => string;
}

/**
 * The counted limits a request is subject to: the tenant's and the user's
 * requests per minute for every counted request, and for `tools/call` also
 * the tenant's tool calls per UTC day and month. Limits are read from the
 * tenant's current config, so a reload applies to the next request.
 */
export function usageChecks(tenant: TenantConfig, userId: string, method: string): UsageCheck[] {
  const quotas = tenant.quotas;
  const id = tenant.id;
  const checks: UsageCheck[] = [
    {
      check: {
        scope: `minute:tenant:${id}`,
        window: MINUTE,
        limit: quotas.max_requests_per_minute,
      },
      quota: 'max_requests_per_minute',
      describe: () =>
        `rate limit exceeded: tenant ${id} allows ${quotas.max_requests_per_minute} requests per minute (max_requests_per_minute)`,
    },
  ];
  const perUser = quotas.max_requests_per_minute_per_user;
  if (perUser !== undefined) {
    checks.push({
      check: { scope: `minute:user:${id}:${userId}`, window: MINUTE, limit: perUser },
      quota: 'max_requests_per_minute_per_user',
      describe: () =>
        `rate limit exceeded: user ${userId} may send ${perUser} requests per minute to tenant ${id} (max_requests_per_minute_per_user)`,
    });
  }
  if (method !== 'tools/call') return checks;
  const perDay = quotas.max_tool_calls_per_day;
  if (perDay !== undefined) {
    checks.push({
      check: { scope: `day:tool_calls:${id}`, window: DAY, limit: perDay },
      quota: 'max_tool_calls_per_day',
      describe: () =>
        `daily quota exceeded: tenant ${id} allows ${perDay} tool calls per day (max_tool_calls_per_day, days start at 00:00 UTC)`,
    });
  }
  const perMonth = quotas.max_tool_calls_per_month;
  if (perMonth !== undefined) {
    checks.push({
      check: { scope: `month:tool_calls:${id}`, window: MONTH, limit: perMonth },
      quota: 'max_tool_calls_per_month',
      describe: () =>
        `monthly quota exceeded: tenant ${id} allows ${perMonth} tool calls per month (max_tool_calls_per_month, months start on the 1st, 00:00 UTC)`,
    });
  }
  return checks;
}
