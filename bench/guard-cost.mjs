// What permissions, revocations and quotas cost per request on the request
// path: the guard's stages (jti lookup, policy, quota) plus the identity
// stamp, against no stages at all, with a child that answers at once.
//   far:     limits far away: counts batched in memory, one write per B
//   near:    every request within B of a limit (B = 1 for a limit of 60): one
//            IMMEDIATE transaction each — at most ~32 + B per scope and window
//   refused: over a limit: refused from memory until the window frees up
// Run after `npm run build`: node bench/guard-cost.mjs [calls]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequestGuard } from '../dist/app/request-guard.js';
import { DEFAULT_POLICY, DEFAULT_QUOTAS } from '../dist/core/config.js';
import { silentLogger } from '../dist/core/logger.js';
import { runStages } from '../dist/core/pipeline.js';
import { identityStage } from '../dist/relay/identity-stage.js';
import { openSupervisorDatabase } from '../dist/store/database.js';

const calls = Number(process.argv[2] ?? 50_000);
const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-bench-'));
const db = openSupervisorDatabase(dir);
const guard = new RequestGuard({ db, log: silentLogger, dataDir: () => dir });
const stages = [...guard.stages, identityStage()];
const session = {
  id: 's',
  caller: { userId: 'alice', permissions: ['tools:*'], isAdmin: false, jti: 'jti-1' },
  capabilities: undefined,
  deliver: () => true,
};
const request = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'hello' } },
};
const response = { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'hello' }] } };
const child = async () => response;
/** Three counted scopes per call: tenant per minute, user per minute, tool calls per day. */
const tenantWith = (id, limit) => ({
  id,
  request_timeout_ms: 60_000,
  policy: DEFAULT_POLICY,
  quotas: {
    ...DEFAULT_QUOTAS,
    max_requests_per_minute: limit,
    max_requests_per_minute_per_user: limit,
    max_tool_calls_per_day: limit,
  },
});

async function timed(n, tenantOf) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const context = { tenant: tenantOf(i), session, request, startedAt: 0 };
    await runStages(currentStages, context, child).catch(() => {});
  }
  return Number(process.hrtime.bigint() - start) / n / 1000;
}

let currentStages = stages;
const far = tenantWith('far', 1e9);
const refusedTenant = tenantWith('refused', 1);
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const results = { bare: [], far: [], near: [], refused: [] };
currentStages = stages;
await timed(5_000, () => far);
for (let round = 0; round < 5; round++) {
  currentStages = [];
  results.bare.push(await timed(calls, () => far));
  currentStages = stages;
  results.far.push(await timed(calls, () => far));
  // A fresh tenant every 60 requests, so each stays within its limit of 60.
  const near = Math.floor(calls / 10);
  results.near.push(
    await timed(near, (i) => tenantWith(`near-${round}-${Math.floor(i / 60)}`, 60)),
  );
  results.refused.push(await timed(calls, () => refusedTenant));
}
guard.close();
db.close();
rmSync(dir, { recursive: true, force: true });
const line = (label, values) => `${label.padEnd(46)} ${median(values).toFixed(2)} µs`;
console.log(line('no stages', results.bare));
console.log(line('guard + identity, far from limits (batched)', results.far));
console.log(line('guard + identity, near a limit (1 txn each)', results.near));
console.log(line('guard + identity, refused (remembered)', results.refused));
