import { describe, expect, it } from 'vitest';
import { signToken } from '../../src/auth/sign.js';
import { ErrorCode, McpTenantsError } from '../../src/core/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { TelemetryMetrics } from '../../src/telemetry/metrics.js';
import { formatReport } from '../../src/telemetry/report-format.js';
import type { Report, TenantReport } from '../../src/telemetry/report-lines.js';
import { parseWhen, parseWindow } from '../../src/telemetry/time-window.js';
import { TokenRefusals } from '../../src/telemetry/token-refusal.js';
import { parsePrometheus, sumOf } from '../helpers/prometheus.js';

function tenant(id: string, overrides: Partial<TenantReport> = {}): TenantReport {
  return {
    tenant: id,
    requests: 1_234_567,
    tool_calls: 1_000_000,
    errors: {
      total: 123_456,
      tool_error: 100_000,
      rpc_error: 20_000,
      quota: 3_000,
      permission: 400,
      timeout: 50,
      crash: 6,
    },
    latency_ms: { p50: 1.23, p95: 456.7, p99: 12_345.6, approximate: false },
    cpu_seconds: 98_765.43,
    memory_mb_hours: 12_345.678,
    peak_rss_mb: 2_048.5,
    avg_rss_mb: 1_000,
    restarts: 12,
    starts: 13,
    crashes: 12,
    limit_kills: 3,
    cold_start_ms: { avg: 300, max: 400 },
    storage_mb: 1_024.25,
    users: 42,
    cancelled: 7,
    request_bytes: 1,
    response_bytes: 2,
    top_tools: [
      { name: 'a_rather_long_tool_name_that_goes_on_and_on', calls: 900_000, errors: 1, p50_ms: 2 },
      { name: 'data_get', calls: 100_000, errors: 0, p50_ms: null },
    ],
    child: null,
    ...overrides,
  };
}

const report: Report = {
  since: '2025-06-01T00:00:00.000Z',
  until: '2025-06-02T00:00:00.000Z',
  tenants: [tenant('a-tenant-with-a-very-long-identifier-indeed'), tenant('globex')],
};

describe('report output', () => {
  it('fits an 80-column terminal with right-aligned numbers and units, even with large figures', () => {
    const text = formatReport(report, 'table');
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(text).toContain('a-tenant-with-a…');
    expect(text).toMatch(/1,234,567 +1,000,000 +123,456 +42 +1\.2 ms +457 ms +12\.3 s/);
    expect(text).toMatch(/98,765 s +12,346 MB·h +2,049 MB +12 +13 +1,024 MB/);
  });

  it('writes the stable JSON shape and one CSV line per tenant', () => {
    const json = JSON.parse(formatReport(report, 'json')) as Report;
    expect(Object.keys(json)).toEqual(['since', 'until', 'tenants']);
    expect(Object.keys(json.tenants[0] ?? {})).toEqual(
      expect.arrayContaining([
        'tenant',
        'requests',
        'tool_calls',
        'errors',
        'latency_ms',
        'cpu_seconds',
        'memory_mb_hours',
        'peak_rss_mb',
        'restarts',
        'storage_mb',
        'top_tools',
      ]),
    );
    const csv = formatReport(report, 'csv').trimEnd().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[0]?.split(',').slice(0, 5)).toEqual([
      'since',
      'until',
      'tenant',
      'requests',
      'tool_calls',
    ]);
    expect(csv[2]).toContain(',globex,1234567,1000000,123456,');
  });
});

describe('--since and --until', () => {
  const now = Date.UTC(2025, 5, 10, 12);
  it('reads durations back from now, ISO dates and times', () => {
    expect(parseWhen('24h', now)).toBe(now - 86_400_000);
    expect(parseWhen('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseWhen('30m', now)).toBe(now - 1_800_000);
    expect(parseWhen('2025-06-01', now)).toBe(Date.UTC(2025, 5, 1));
    expect(parseWhen('2025-06-01T10:00:00Z', now)).toBe(Date.UTC(2025, 5, 1, 10));
    expect(parseWindow({}, now)).toEqual({ since: now - 86_400_000, until: now });
  });

  it('refuses anything else with a message that shows the accepted forms', () => {
    expect(() => parseWhen('yesterday', now)).toThrow(/30m, 24h, 7d, 2w.*2025-06-01/);
    expect(() => parseWindow({ since: '1h', until: '2h' }, now)).toThrow(/must be before --until/);
  });
});

describe('token refusals in the audit trail', () => {
  const secret = { secret: 'x'.repeat(40) };
  const expired = () =>
    new McpTenantsError(ErrorCode.AUTH_INVALID, 'token expired', { data: { reason: 'expired' } });

  it("files a signed token's refusal under its tenant, anything else under the supervisor", async () => {
    const refusals = new TokenRefusals((id) => id === 'acme');
    const token = await signToken(secret, { tenantId: 'acme', userId: 'alice', ttlSeconds: 60 });
    const base = { path: '/mcp', remoteAddress: '127.0.0.1', now: 0 };
    const signed = refusals.entry({ ...base, token, error: expired() });
    expect(signed).toMatchObject({
      tenant: 'acme',
      actor: 'alice',
      action: 'token_refused',
      outcome: 'AUTH_INVALID',
    });
    const forged = new McpTenantsError(ErrorCode.AUTH_INVALID, 'bad signature', {
      data: { reason: 'invalid_signature' },
    });
    const other = refusals.entry({ ...base, token, error: forged });
    expect(other).toMatchObject({
      tenant: '-',
      actor: 'anonymous',
      detail: { claimed_tenant: 'acme' },
    });
    const missing = new McpTenantsError(ErrorCode.AUTH_MISSING, 'no token');
    expect(refusals.entry({ ...base, token: undefined, error: missing })).toMatchObject({
      tenant: '-',
    });
  });

  it('records at most 120 a minute, then says how many it left out', () => {
    const refusals = new TokenRefusals(() => false);
    const error = new McpTenantsError(ErrorCode.AUTH_MISSING, 'no token');
    const at = (now: number) =>
      refusals.entry({
        token: undefined,
        error,
        path: '/mcp',
        remoteAddress: undefined,
        now,
      });
    const recorded = Array.from({ length: 200 }, () => at(1_000)).filter(Boolean);
    expect(recorded).toHaveLength(120);
    expect(at(61_000)?.detail).toMatchObject({ suppressed_before: 80 });
  });
});

describe('/metrics text', () => {
  it('escapes label values, bounds what clients can add, and filters tenants', () => {
    const metrics = new TelemetryMetrics();
    metrics.request('acme', 'tools/call', 'ok', 3, 'say "hi"\\now');
    for (let i = 0; i < 60; i++) metrics.request('globex', `custom/m${i}`, 'rpc_error', 1, null);
    const all = parsePrometheus(
      metrics.render(() => true, [{ tenant: 'acme', up: true, sessions: 2, rssBytes: 10 }]),
    );
    expect(all.find((s) => s.name === 'mcp_tenants_tool_calls_total')?.labels.tool).toBe(
      'say "hi"\\now',
    );
    const globex = all.filter((s) => s.labels.tenant === 'globex' && s.labels.method);
    const methods = new Set(globex.map((s) => s.labels.method));
    expect(methods.size).toBe(51);
    expect(methods.has('other')).toBe(true);
    expect(sumOf(all, 'mcp_tenants_requests_total', { tenant: 'globex' })).toBe(60);
    expect(
      sumOf(all, 'mcp_tenants_request_duration_seconds_bucket', { tenant: 'acme', le: '0.005' }),
    ).toBe(1);
    const own = parsePrometheus(
      metrics.render(
        (id) => id === 'acme',
        [{ tenant: 'globex', up: true, sessions: 1, rssBytes: null }],
      ),
    );
    expect(new Set(own.map((s) => s.labels.tenant))).toEqual(new Set(['acme']));
  });
});

describe('the telemetry section of the manifest', () => {
  const yaml = (...lines: string[]) =>
    `${['auth:', `  secret: ${'s'.repeat(40)}`, 'tenants: { acme: { audit: { arguments: true } } }', ...lines].join('\n')}\n`;

  it('has defaults, and per-tenant audit settings', () => {
    const manifest = parseManifest(yaml(), 'm.yaml', '/x', {});
    expect(manifest.telemetry).toEqual({
      retention_days: 30,
      rollup_retention_days: 400,
      flush_interval_ms: 1000,
      flush_rows: 1000,
    });
    expect(manifest.tenants.get('acme')?.audit).toEqual({
      arguments: true,
      max_argument_bytes: 4096,
    });
  });

  it('serves /metrics without a token on loopback addresses only', () => {
    const ok = parseManifest(
      yaml('telemetry: { metrics_listen: "[::1]:9464" }'),
      'm.yaml',
      '/x',
      {},
    );
    expect(ok.telemetry.metrics_listen).toBe('[::1]:9464');
    expect(() =>
      parseManifest(yaml('telemetry: { metrics_listen: "0.0.0.0:9464" }'), 'm.yaml', '/x', {}),
    ).toThrow(
      /^m\.yaml:4 telemetry\.metrics_listen: metrics_listen serves \/metrics without a token, so it must be a loopback address/,
    );
  });
});
