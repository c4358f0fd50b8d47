import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Database from 'better-sqlite3';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signToken } from '../../src/auth/sign.js';
import type { Report, TenantReport } from '../../src/telemetry/report-lines.js';
import { DAY_MS, Retention } from '../../src/telemetry/retention.js';
import { connectHttp, rawPost, textOf } from '../helpers/mcp-client.js';
import { waitFor, waitGone } from '../helpers/processes.js';
import { parsePrometheus, sumOf } from '../helpers/prometheus.js';
import {
  createWorkspace,
  fixture,
  runCli,
  type ServeProcess,
  startServe,
  type TestWorkspace,
} from '../helpers/serve-process.js';

const HOUR_MS = 3_600_000;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const cli = (args: string[]) => runCli(args);

/**
 * A known mix of traffic through `serve`, then `report`, `audit`, `audit
 * verify` and `/metrics` must tell exactly that story, across a restart, a
 * SIGKILL, tampering and the retention rollup.
 */
describe('telemetry, audit trail and report through serve', () => {
  let workspace: TestWorkspace;
  let serve: ServeProcess | undefined;
  const clients: Client[] = [];
  // Hour-aligned, so rolled-up hours count exactly like raw rows.
  const since = new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS).toISOString();
  const until = new Date(Date.parse(since) + 3 * HOUR_MS).toISOString();

  /** `report` or `audit` over the test's window, as JSON. */
  const readJson = (command: 'report' | 'audit', extra: string[] = []) =>
    cli([
      command,
      '-m',
      workspace.manifestPath,
      '--since',
      since,
      '--until',
      until,
      '--format',
      'json',
      ...extra,
    ]);

  const report = (extra: string[] = []): Report => {
    const run = readJson('report', extra);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Report;
  };
  const tenantOf = (result: Report, id: string): TenantReport => {
    const found = result.tenants.find((tenant) => tenant.tenant === id);
    if (!found) throw new Error(`no ${id} in the report`);
    return found;
  };
  const database = () => join(workspace.dir, 'data', 'mcp-tenants.db');
  const token = (tenant: string, user: string, permissions?: string[]) =>
    signToken(
      { secret: workspace.secret },
      { tenantId: tenant, userId: user, ttlSeconds: 600, ...(permissions && { permissions }) },
    );

  beforeAll(() => {
    workspace = createWorkspace(
      {
        acme: { audit: { arguments: true } },
        globex: { ...fixture('outcomes-server.mjs'), request_timeout_ms: 1_000 },
        initech: { quotas: { max_requests_per_minute: 2 } },
      },
      { watchdog_interval_ms: 200 },
    );
    const manifest = JSON.parse(readFileSync(workspace.manifestPath, 'utf8'));
    manifest.telemetry = { flush_interval_ms: 100, metrics_listen: '127.0.0.1:0' };
    writeFileSync(workspace.manifestPath, JSON.stringify(manifest, null, 2));
  });

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await serve?.stop();
    workspace?.cleanup();
  });

  it('records a known mix of traffic, refusals included, and report, audit and /metrics agree on it', async () => {
    serve = await startServe(workspace.manifestPath);
    const acme = await connectHttp(serve.url, await token('acme', 'alice'));
    const globex = await connectHttp(serve.url, await token('globex', 'bob'));
    clients.push(acme, globex);

    // acme (built-in server): 3 ok writes, 1 tool error, 1 list → 5 requests, 4 tool calls.
    for (const key of ['a', 'b', 'c']) {
      await acme.callTool({ name: 'data_set', arguments: { key, value: `value of ${key}` } });
    }
    expect((await acme.callTool({ name: 'data_get', arguments: { key: 'nope' } })).isError).toBe(
      true,
    );
    await acme.listTools();

    // globex: 2 ok, 1 tool error, 1 with trace context, 1 unknown method, 1 timeout,
    // 1 crash, then 1 ok on the restarted child → 8 requests, 7 tool calls.
    await globex.callTool({ name: 'ok', arguments: {} });
    await globex.callTool({ name: 'ok', arguments: {} });
    expect((await globex.callTool({ name: 'fail', arguments: {} })).isError).toBe(true);
    const meta = await globex.callTool({
      name: 'meta',
      arguments: {},
      _meta: { traceparent: TRACEPARENT },
    });
    expect(JSON.parse(textOf(meta))).toMatchObject({ traceparent: TRACEPARENT });
    await expect(
      globex.request({ method: 'nope/unknown', params: {} }, z.object({}).passthrough()),
    ).rejects.toThrow(/-32601/);
    await expect(globex.callTool({ name: 'slow', arguments: { ms: 4_000 } })).rejects.toThrow(
      /-30504/,
    );
    await expect(globex.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/-30503/);
    expect(textOf(await globex.callTool({ name: 'ok', arguments: {} }))).toBe('ok');

    // initech: refusals by the policy and quota stages that come after telemetry.
    // ivan may only call data_set; the tenant admits 2 requests a minute, and a
    // request refused by policy uses up no quota → 4 requests, 2 ok, 1 permission, 1 quota.
    const initech = await connectHttp(
      serve.url,
      await token('initech', 'ivan', ['tools:data_set']),
    );
    clients.push(initech);
    await initech.callTool({ name: 'data_set', arguments: { key: 'a', value: '1' } });
    await initech.callTool({ name: 'data_set', arguments: { key: 'b', value: '2' } });
    await expect(initech.callTool({ name: 'data_get', arguments: { key: 'a' } })).rejects.toThrow(
      /-30403/,
    );
    await expect(
      initech.callTool({ name: 'data_set', arguments: { key: 'c', value: '3' } }),
    ).rejects.toThrow(/-30429/);

    // Refused tokens: a forged one (the supervisor's chain) and an expired acme one (acme's chain).
    expect(
      (
        await rawPost(
          serve.url,
          { jsonrpc: '2.0', id: 1, method: 'ping' },
          { authorization: 'Bearer not.a.jwt' },
        )
      ).status,
    ).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({
      tenant_id: 'acme',
      user_id: 'carol',
      permissions: ['tools:*'],
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(now - 600)
      .setExpirationTime(now - 300)
      .sign(new TextEncoder().encode(workspace.secret));
    expect(
      (
        await rawPost(
          serve.url,
          { jsonrpc: '2.0', id: 1, method: 'ping' },
          { authorization: `Bearer ${expired}` },
        )
      ).status,
    ).toBe(401);

    // An admin action.
    const base = serve.url.replace(/\/mcp$/, '');
    const operator = await workspace.operatorToken();
    const reset = await fetch(`${base}/admin/tenants/globex/reset`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}` },
    });
    expect(reset.status).toBe(200);

    // /metrics: the operator sees every tenant; a tenant admin only its own; others are refused.
    const scrape = async (bearer: string) => {
      const response = await fetch(`${base}/metrics`, {
        headers: { authorization: `Bearer ${bearer}` },
      });
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        text: await response.text(),
      };
    };
    const all = await scrape(operator);
    expect(all.status).toBe(200);
    expect(all.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const metrics = parsePrometheus(all.text);
    const own = parsePrometheus((await scrape(await token('acme', 'dave', ['admin']))).text);
    expect(own.length).toBeGreaterThan(0);
    expect(new Set(own.map((sample) => sample.labels.tenant))).toEqual(new Set(['acme']));
    expect((await scrape(await token('acme', 'erin'))).status).toBe(403);
    const scraperUrl = /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(serve.stdout())?.[1];
    expect(scraperUrl).toBeDefined();
    const open = parsePrometheus(await (await fetch(scraperUrl as string)).text());
    expect(sumOf(open, 'mcp_tenants_requests_total')).toBe(17);

    for (const client of clients.splice(0)) await client.close();
    const stopped = await serve.stop();
    serve = undefined;
    expect(stopped).toEqual({ code: 0, survivors: [] });

    const result = report();
    expect(result.since).toBe(since);
    const a = tenantOf(result, 'acme');
    expect(a).toMatchObject({
      requests: 5,
      tool_calls: 4,
      errors: {
        total: 1,
        tool_error: 1,
        rpc_error: 0,
        quota: 0,
        permission: 0,
        timeout: 0,
        crash: 0,
      },
      restarts: 0,
      starts: 1,
      users: 1,
      top_tools: [
        { name: 'data_set', calls: 3, errors: 0 },
        { name: 'data_get', calls: 1, errors: 1 },
      ],
      // What the built-in server reported about itself over IPC.
      child: { tool_calls: 4, tool_errors: 1, rows: 3 },
    });
    const g = tenantOf(result, 'globex');
    expect(g).toMatchObject({
      requests: 8,
      tool_calls: 7,
      errors: {
        total: 4,
        tool_error: 1,
        rpc_error: 1,
        quota: 0,
        permission: 0,
        timeout: 1,
        crash: 1,
      },
      restarts: 1,
      starts: 2,
      crashes: 1,
      child: null,
    });
    const i = tenantOf(result, 'initech');
    expect(i).toMatchObject({
      requests: 4,
      tool_calls: 4,
      errors: {
        total: 2,
        tool_error: 0,
        rpc_error: 0,
        quota: 1,
        permission: 1,
        timeout: 0,
        crash: 0,
      },
      top_tools: [
        { name: 'data_set', calls: 3, errors: 1 },
        { name: 'data_get', calls: 1, errors: 1 },
      ],
    });
    for (const tenant of [a, g]) {
      const { p50, p95, p99 } = tenant.latency_ms;
      expect(p50).toBeGreaterThan(0);
      expect(p50).toBeLessThanOrEqual(p95 ?? 0);
      expect(p95).toBeLessThanOrEqual(p99 ?? 0);
      expect(tenant.cpu_seconds).toBeGreaterThan(0);
      expect(tenant.memory_mb_hours).toBeGreaterThan(0);
      expect(tenant.peak_rss_mb).toBeGreaterThan(10);
      expect(tenant.request_bytes).toBeGreaterThan(0);
    }
    expect(a.latency_ms.p99).toBeLessThan(1_000);
    expect(g.latency_ms.p99).toBeGreaterThanOrEqual(1_000); // the timeout
    expect(a.storage_mb).toBeGreaterThan(0);

    // /metrics counted the same requests and outcomes as the report.
    for (const tenant of [a, g, i]) {
      const labels = { tenant: tenant.tenant };
      expect(sumOf(metrics, 'mcp_tenants_requests_total', labels)).toBe(tenant.requests);
      for (const kind of [
        'tool_error',
        'rpc_error',
        'quota',
        'permission',
        'timeout',
        'crash',
      ] as const) {
        expect(sumOf(metrics, 'mcp_tenants_requests_total', { ...labels, outcome: kind })).toBe(
          tenant.errors[kind],
        );
      }
      expect(sumOf(metrics, 'mcp_tenants_tool_calls_total', labels)).toBe(tenant.tool_calls);
      expect(sumOf(metrics, 'mcp_tenants_request_duration_seconds_count', labels)).toBe(
        tenant.requests,
      );
    }
    expect(sumOf(metrics, 'mcp_tenants_child_restarts_total', { tenant: 'globex' })).toBe(1);

    // The table fits 80 columns.
    const table = cli(['report', '-m', workspace.manifestPath, '--since', since, '--until', until]);
    expect(table.code).toBe(0);
    for (const line of table.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(table.stdout).toMatch(/^globex +8 +7 +4 +1 /m);

    // The audit trail: who did what, with what outcome.
    const audit = readJson('audit');
    expect(audit.code).toBe(0);
    const rows = (
      JSON.parse(audit.stdout) as {
        rows: {
          tenant: string;
          user: string;
          action: string;
          target: string | null;
          outcome: string;
          detail: Record<string, unknown> | null;
        }[];
      }
    ).rows;
    const summary = (tenant: string) =>
      rows
        .filter((row) => row.tenant === tenant)
        .map((row) => `${row.user} ${row.action} ${row.target ?? '-'} ${row.outcome}`);
    expect(summary('acme')).toEqual([
      'alice tools/call data_set ok',
      'alice tools/call data_set ok',
      'alice tools/call data_set ok',
      'alice tools/call data_get tool_error',
      'carol token_refused - AUTH_INVALID',
    ]);
    expect(summary('globex')).toEqual([
      'bob tools/call ok ok',
      'bob tools/call ok ok',
      'bob tools/call fail tool_error',
      'bob tools/call meta ok',
      'bob tools/call slow timeout',
      'bob tools/call crash crash',
      'bob tools/call ok ok',
      'operator admin/reset globex ok',
    ]);
    expect(summary('initech')).toEqual([
      'ivan tools/call data_set ok',
      'ivan tools/call data_set ok',
      'ivan tools/call data_get permission',
      'ivan tools/call data_set quota',
    ]);
    expect(summary('-')).toEqual(['anonymous token_refused - AUTH_INVALID']);
    // Arguments only where the tenant asked for them.
    expect(rows.find((row) => row.tenant === 'acme')?.detail).toMatchObject({
      arguments: { key: 'a', value: 'value of a' },
    });
    expect(rows.find((row) => row.tenant === 'globex' && row.target === 'meta')?.detail).toEqual({
      jti: expect.any(String),
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(summary('acme')).toEqual(
      JSON.parse(
        cli(['audit', '-m', workspace.manifestPath, '--tenant', 'acme', '--format', 'json']).stdout,
      ).rows.map(
        (row: { user: string; action: string; target: string | null; outcome: string }) =>
          `${row.user} ${row.action} ${row.target ?? '-'} ${row.outcome}`,
      ),
    );
    const verified = cli(['audit', 'verify', '-m', workspace.manifestPath]);
    expect(verified).toMatchObject({ code: 0, stderr: '' });
    expect(verified.stdout).toMatch(/^acme: 5 rows, ok/m);
    expect(verified.stdout).toMatch(/^globex: 8 rows, ok/m);
    expect(verified.stdout).toMatch(/^initech: 4 rows, ok/m);
  });

  it('adds up across a supervisor restart, and a SIGKILL loses nothing already flushed', async () => {
    serve = await startServe(workspace.manifestPath);
    // A reload that adds a tenant and changes one is in the audit trail.
    const manifest = JSON.parse(readFileSync(workspace.manifestPath, 'utf8'));
    manifest.tenants.umbrella = {};
    manifest.tenants.globex.request_timeout_ms = 2_000;
    writeFileSync(workspace.manifestPath, JSON.stringify(manifest, null, 2));
    await waitFor(
      () => /manifest reloaded/.test(serve?.stderr() ?? '') || undefined,
      5_000,
      'the reload',
    );
    const acme = await connectHttp(serve.url, await token('acme', 'alice'));
    const globex = await connectHttp(serve.url, await token('globex', 'bob'));
    expect(textOf(await acme.callTool({ name: 'data_get', arguments: { key: 'a' } }))).toBe(
      'value of a',
    );
    await globex.callTool({ name: 'ok', arguments: {} });
    // Written within flush_interval_ms, while serve runs, readable by another process.
    await waitFor(
      () => {
        const db = new Database(database(), { readonly: true });
        try {
          const { n } = db.prepare('SELECT count(*) AS n FROM telemetry_requests').get() as {
            n: number;
          };
          return n === 19 || undefined;
        } finally {
          db.close();
        }
      },
      5_000,
      'the new requests to be written',
    );
    const pids = serve.childPids();
    serve.process.kill('SIGKILL');
    await new Promise((resolve) => serve?.process.once('exit', resolve));
    serve = undefined;
    await acme.close().catch(() => {});
    await globex.close().catch(() => {});
    expect(await waitGone(pids)).toEqual([]);

    const result = report();
    expect(tenantOf(result, 'umbrella')).toMatchObject({ requests: 0, errors: { total: 0 } });
    expect(tenantOf(result, 'acme')).toMatchObject({
      requests: 6,
      tool_calls: 5,
      starts: 2,
      restarts: 0,
    });
    expect(tenantOf(result, 'globex')).toMatchObject({
      requests: 9,
      tool_calls: 8,
      errors: { total: 4 },
    });
    const verified = cli(['audit', 'verify', '-m', workspace.manifestPath, '--json']);
    expect(verified.code).toBe(0);
    const chains = JSON.parse(verified.stdout).chains as {
      tenant: string;
      head: { seq: number };
    }[];
    expect(chains.find((chain) => chain.tenant === 'acme')?.head.seq).toBe(6);
    const reloads = cli([
      'audit',
      '-m',
      workspace.manifestPath,
      '--user',
      'manifest',
      '--format',
      'json',
    ]);
    const actions = JSON.parse(reloads.stdout).rows.map(
      (row: { tenant: string; action: string }) => `${row.tenant} ${row.action}`,
    );
    expect(actions).toEqual(['umbrella tenant_added', 'globex tenant_reloaded']);
  });

  it('keeps every total when old rows are rolled up into hourly aggregates', () => {
    const before = report();
    const db = new Database(database());
    try {
      new Retention(db, { retentionDays: 1, rollupRetentionDays: 400 }).runAll(
        Date.now() + 2 * DAY_MS,
      );
      expect(db.prepare('SELECT count(*) AS n FROM telemetry_requests').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const after = report();
    const totals = (result: Report) =>
      result.tenants.map((t) => [
        t.tenant,
        t.requests,
        t.tool_calls,
        t.errors,
        t.cpu_seconds,
        t.memory_mb_hours,
        t.peak_rss_mb,
        t.restarts,
        t.starts,
        t.request_bytes,
      ]);
    expect(totals(after)).toEqual(totals(before));
    expect(tenantOf(after, 'globex').latency_ms.approximate).toBe(true);
  });

  it('audit verify fails, naming the row, after rows are modified or deleted', () => {
    const db = new Database(database());
    try {
      db.prepare("UPDATE audit_log SET outcome = 'ok' WHERE tenant = 'globex' AND seq = 5").run();
      db.prepare("DELETE FROM audit_log WHERE tenant = 'acme' AND seq = 2").run();
    } finally {
      db.close();
    }
    const verified = cli(['audit', 'verify', '-m', workspace.manifestPath]);
    expect(verified.code).toBe(8);
    expect(verified.stdout).toMatch(/^acme: 5 rows, FAILED/m);
    expect(verified.stdout).toContain('row 2 is missing (deleted)');
    expect(verified.stdout).toMatch(/^globex: 10 rows, FAILED/m);
    expect(verified.stdout).toContain('row 5: was modified');
    expect(verified.stdout).toMatch(/^- \(supervisor\): 1 rows, ok/m);
    expect(verified.stderr).toMatch(
      /^mcp-tenants: the audit trail of acme, globex fails verification/,
    );
  });
});
