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

/** The checks of one kind of request, and their counters in the same order. */
export interface UsageChecks {
  readonly checks: readonly UsageCheck[];
  readonly counters: readonly CounterCheck[];
}

/** Users whose checks one tenant config keeps built; beyond, the cache starts over. */
const MAX_CACHED_USERS = 1_000;

interface RequestKinds {
  /** Any counted request. */
  requests: UsageChecks;
  /** `tools/call`: the request checks and the tool-call ones. */
  toolCalls: UsageChecks;
}

interface TenantChecks {
  /** Every user's, when there is no per-user limit. */
  shared: RequestKinds | undefined;
  /** Per user id, when there is one. */
  byUser: Map<string, RequestKinds>;
}

/**
 * Checks are built once per tenant config (a reload makes a new one, so it
 * applies to the next request) rather than per request: their scope strings
 * and refusal texts would otherwise be made again on every call.
 */
const built = new WeakMap<TenantConfig, TenantChecks>();

/**
 * The counted limits a request is subject to: the tenant's and the user's
 * requests per minute for every counted request, and for `tools/call` also
 * the tenant's tool calls per UTC day and month. Limits are read from the
 * tenant's current config, so a reload applies to the next request.
 */
export function usageChecks(tenant: TenantConfig, userId: string, method: string): UsageChecks {
  let own = built.get(tenant);
  if (!own) {
    const perUser = tenant.quotas.max_requests_per_minute_per_user;
    own = { shared: perUser === undefined ? kinds(tenant, []) : undefined, byUser: new Map() };
    built.set(tenant, own);
  }
  let forUser = own.shared ?? own.byUser.get(userId);
  if (!forUser) {
    forUser = kinds(tenant, userChecks(tenant, userId));
    if (own.byUser.size >= MAX_CACHED_USERS) own.byUser.clear();
    own.byUser.set(userId, forUser);
  }
  return method === 'tools/call' ? forUser.toolCalls : forUser.requests;
}

function kinds(tenant: TenantConfig, user: UsageCheck[]): RequestKinds {
  const requests = [requestsCheck(tenant), ...user];
  return {
    requests: withCounters(requests),
    toolCalls: withCounters([...requests, ...toolCallChecks(tenant)]),
  };
}

function withCounters(checks: UsageCheck[]): UsageChecks {
  return { checks, counters: checks.map((entry) => entry.check) };
}

function requestsCheck(tenant: TenantConfig): UsageCheck {
  const quotas = tenant.quotas;
  return {
    check: {
      scope: `minute:tenant:${tenant.id}`,
      window: MINUTE,
      limit: quotas.max_requests_per_minute,
    },
    quota: 'max_requests_per_minute',
    describe: () =>
      `rate limit exceeded: tenant ${tenant.id} allows ${quotas.max_requests_per_minute} requests per minute (max_requests_per_minute)`,
  };
}

function toolCallChecks(tenant: TenantConfig): UsageCheck[] {
  const id = tenant.id;
  const { max_tool_calls_per_day: perDay, max_tool_calls_per_month: perMonth } = tenant.quotas;
  const checks: UsageCheck[] = [];
  if (perDay !== undefined) {
    checks.push({
      check: { scope: `day:tool_calls:${id}`, window: DAY, limit: perDay },
      quota: 'max_tool_calls_per_day',
      describe: () =>
        `daily quota exceeded: tenant ${id} allows ${perDay} tool calls per day (max_tool_calls_per_day, days start at 00:00 UTC)`,
    });
  }
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

function userChecks(tenant: TenantConfig, userId: string): UsageCheck[] {
  const perUser = tenant.quotas.max_requests_per_minute_per_user;
  if (perUser === undefined) return [];
  const id = tenant.id;
  return [
    {
      check: { scope: `minute:user:${id}:${userId}`, window: MINUTE, limit: perUser },
      quota: 'max_requests_per_minute_per_user',
      describe: () =>
        `rate limit exceeded: user ${userId} may send ${perUser} requests per minute to tenant ${id} (max_requests_per_minute_per_user)`,
    },
  ];
}
