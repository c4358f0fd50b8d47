import { addToBuckets, emptyBuckets, LATENCY_BUCKETS_MS } from './latency.js';
import type { Outcome } from './outcome.js';
import { type Family, type Labels, renderFamilies, type Sample } from './prometheus-text.js';

/** Label values a client chooses are bounded, so no client can grow the series without end. */
const MAX_METHODS_PER_TENANT = 50;
const MAX_TOOLS_PER_TENANT = 200;
const OTHER = 'other';

interface TenantCounters {
  /** method → outcome → count */
  requests: Map<string, Map<Outcome, number>>;
  /** tool → outcome → count */
  tools: Map<string, Map<Outcome, number>>;
  latency: Map<string, { buckets: number[]; sum: number; count: number }>; // method
  requestBytes: number;
  responseBytes: number;
  cpuSeconds: number;
  starts: number;
  restarts: number;
  crashes: number;
  limitKills: number;
  startSecondsSum: number;
  telemetryDropped: number;
}

type ScalarCounter = {
  [K in keyof TenantCounters]: TenantCounters[K] extends number ? K : never;
}[keyof TenantCounters];

/** One series per tenant each. */
const SCALAR_COUNTERS: readonly { name: string; help: string; field: ScalarCounter }[] = [
  {
    name: 'mcp_tenants_request_bytes_total',
    help: 'Bytes of JSON-RPC requests relayed, as they entered the supervisor.',
    field: 'requestBytes',
  },
  {
    name: 'mcp_tenants_response_bytes_total',
    help: "Bytes of JSON-RPC responses relayed, as they entered the supervisor (the child's line, or the supervisor's own answer).",
    field: 'responseBytes',
  },
  {
    name: 'mcp_tenants_child_cpu_seconds_total',
    help: "CPU time of the tenant's child process trees, from the watchdog's samples.",
    field: 'cpuSeconds',
  },
  {
    name: 'mcp_tenants_child_starts_total',
    help: 'Child processes started (cold starts).',
    field: 'starts',
  },
  {
    name: 'mcp_tenants_child_start_seconds_total',
    help: 'Sum of spawn-to-ready times of child starts.',
    field: 'startSecondsSum',
  },
  {
    name: 'mcp_tenants_child_restarts_total',
    help: 'Child starts that followed a crash.',
    field: 'restarts',
  },
  {
    name: 'mcp_tenants_child_crashes_total',
    help: 'Children that exited without being asked to (limit kills included).',
    field: 'crashes',
  },
  {
    name: 'mcp_tenants_child_limit_kills_total',
    help: 'Children killed for a limit (memory, pids, OOM).',
    field: 'limitKills',
  },
  {
    name: 'mcp_tenants_telemetry_dropped_total',
    help: 'Telemetry and audit records of the tenant that could not be written to the database and were dropped.',
    field: 'telemetryDropped',
  },
];

/** What the supervisor knows about a tenant's child right now. */
export interface ChildGauges {
  tenant: string;
  up: boolean;
  sessions: number;
  rssBytes: number | null;
}

/** Gauges of each tenant's child; a null value is left out. */
const CHILD_GAUGES: readonly {
  name: string;
  help: string;
  value: (child: ChildGauges) => number | null;
}[] = [
  {
    name: 'mcp_tenants_child_up',
    help: "1 when the tenant's child is running.",
    value: (child) => (child.up ? 1 : 0),
  },
  {
    name: 'mcp_tenants_child_rss_bytes',
    help: "Resident memory of the tenant's child tree at the last watchdog sample.",
    value: (child) => child.rssBytes,
  },
  {
    name: 'mcp_tenants_sessions',
    help: 'Open sessions of the tenant.',
    value: (child) => child.sessions,
  },
];

/**
 * In-memory counters since the supervisor started, rendered at `GET /metrics`.
 * Counters reset with the process, as Prometheus expects; the database holds
 * the durable record (`mcp-tenants report`).
 */
export class TelemetryMetrics {
  private readonly tenants = new Map<string, TenantCounters>();

  /** `common`: labels on every series, e.g. `{ node }` for one node of a cluster. */
  constructor(private readonly common: Labels = {}) {}

  request(
    tenant: string,
    method: string,
    outcome: Outcome,
    latencyMs: number,
    tool: string | null,
  ): void {
    const counters = this.counters(tenant);
    const methodLabel = bounded(counters.latency, method, MAX_METHODS_PER_TENANT);
    count(counters.requests, methodLabel, outcome);
    if (tool !== null && method === 'tools/call') {
      count(counters.tools, bounded(counters.tools, tool, MAX_TOOLS_PER_TENANT), outcome);
    }
    let histogram = counters.latency.get(methodLabel);
    if (!histogram) {
      histogram = { buckets: emptyBuckets(), sum: 0, count: 0 };
      counters.latency.set(methodLabel, histogram);
    }
    addToBuckets(histogram.buckets, latencyMs);
    histogram.sum += latencyMs / 1000;
    histogram.count += 1;
  }

  bytes(tenant: string, requestBytes: number, responseBytes: number): void {
    const counters = this.counters(tenant);
    counters.requestBytes += requestBytes;
    counters.responseBytes += responseBytes;
  }

  telemetryDropped(tenant: string): void {
    this.counters(tenant).telemetryDropped += 1;
  }

  cpu(tenant: string, seconds: number): void {
    this.counters(tenant).cpuSeconds += seconds;
  }

  childStarted(tenant: string, startMs: number, restart: boolean): void {
    const counters = this.counters(tenant);
    counters.starts += 1;
    counters.startSecondsSum += startMs / 1000;
    if (restart) counters.restarts += 1;
  }

  childExited(tenant: string, crashed: boolean, limit: string | null): void {
    const counters = this.counters(tenant);
    if (crashed) counters.crashes += 1;
    if (limit !== null) counters.limitKills += 1;
  }

  /** The exposition, with only the tenants `maySee` allows. */
  render(maySee: (tenant: string) => boolean, children: readonly ChildGauges[]): string {
    const visible = [...this.tenants].filter(([tenant]) => maySee(tenant));
    const gauges = children.filter((child) => maySee(child.tenant));
    const perTenant = (pick: (counters: TenantCounters) => number): Sample[] =>
      visible.map(([tenant, counters]) => ({ labels: { tenant }, value: pick(counters) }));
    const families: Family[] = [
      {
        name: 'mcp_tenants_requests_total',
        help: 'Requests relayed to a tenant, by method and outcome (ok, tool_error, rpc_error, quota, permission, timeout, crash, cancelled).',
        type: 'counter',
        samples: visible.flatMap(([tenant, counters]) =>
          [...counters.requests].flatMap(([method, outcomes]) =>
            [...outcomes].map(([outcome, value]) => ({
              labels: { tenant, method, outcome },
              value,
            })),
          ),
        ),
      },
      {
        name: 'mcp_tenants_tool_calls_total',
        help: 'tools/call requests by tool and outcome.',
        type: 'counter',
        samples: visible.flatMap(([tenant, counters]) =>
          [...counters.tools].flatMap(([tool, outcomes]) =>
            [...outcomes].map(([outcome, value]) => ({ labels: { tenant, tool, outcome }, value })),
          ),
        ),
      },
      {
        name: 'mcp_tenants_request_duration_seconds',
        help: 'Time from the relay taking a request to its answer, by method.',
        type: 'histogram',
        samples: visible.flatMap(([tenant, counters]) =>
          [...counters.latency].flatMap(([method, histogram]) =>
            histogramSamples(tenant, method, histogram),
          ),
        ),
      },
      ...SCALAR_COUNTERS.map(
        ({ name, help, field }): Family => ({
          name,
          help,
          type: 'counter',
          samples: perTenant((counters) => counters[field]),
        }),
      ),
      ...CHILD_GAUGES.map(
        ({ name, help, value }): Family => ({
          name,
          help,
          type: 'gauge',
          samples: gauges.flatMap((child) => {
            const sample = value(child);
            return sample === null ? [] : [{ labels: { tenant: child.tenant }, value: sample }];
          }),
        }),
      ),
    ];
    return renderFamilies(families, this.common);
  }

  private counters(tenant: string): TenantCounters {
    let counters = this.tenants.get(tenant);
    if (!counters) {
      counters = {
        requests: new Map(),
        tools: new Map(),
        latency: new Map(),
        requestBytes: 0,
        responseBytes: 0,
        cpuSeconds: 0,
        starts: 0,
        restarts: 0,
        crashes: 0,
        limitKills: 0,
        startSecondsSum: 0,
        telemetryDropped: 0,
      };
      this.tenants.set(tenant, counters);
    }
    return counters;
  }
}

function count(map: Map<string, Map<Outcome, number>>, label: string, outcome: Outcome): void {
  let outcomes = map.get(label);
  if (!outcomes) {
    outcomes = new Map();
    map.set(label, outcomes);
  }
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

/**
 * Longest method or tool name kept as a label (MCP's own names are far
 * shorter; tool names are at most 128 characters). A longer one is `other`,
 * so a caller's made-up names can neither grow the supervisor's memory nor
 * every scrape of /metrics.
 */
export const MAX_LABEL_LENGTH = 128;

/** `value` if it is short and known or there is room for it, else `other`. */
function bounded(map: Map<string, unknown>, value: string, max: number): string {
  if (value.length > MAX_LABEL_LENGTH) return OTHER;
  return map.has(value) || map.size < max ? value : OTHER;
}

function histogramSamples(
  tenant: string,
  method: string,
  histogram: { buckets: number[]; sum: number; count: number },
): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  LATENCY_BUCKETS_MS.forEach((bound, i) => {
    cumulative += histogram.buckets[i] ?? 0;
    samples.push({
      suffix: '_bucket',
      labels: { tenant, method, le: String(bound / 1000) },
      value: cumulative,
    });
  });
  samples.push({
    suffix: '_bucket',
    labels: { tenant, method, le: '+Inf' },
    value: histogram.count,
  });
  samples.push({ suffix: '_sum', labels: { tenant, method }, value: histogram.sum });
  samples.push({ suffix: '_count', labels: { tenant, method }, value: histogram.count });
  return samples;
}
