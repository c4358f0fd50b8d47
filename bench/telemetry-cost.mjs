// What telemetry costs per request: the stage on the request path (clock,
// classification, the sizes noted when the messages entered, one array push,
// the /metrics counters) and, separately, the batch writer's work per row
// off the request path (SQL, audit hash). Run after `npm run build`: node bench/telemetry-cost.mjs [calls]
// (METHOD=tools/list for a request the audit trail does not record).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../dist/core/logger.js';
import { runStages } from '../dist/core/pipeline.js';
import { noteWireBytes } from '../dist/core/wire-bytes.js';
import { openSupervisorDatabase } from '../dist/store/database.js';
import { Telemetry } from '../dist/telemetry/telemetry.js';

const calls = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-bench-'));
const db = openSupervisorDatabase(dir);
const config = {
  retention_days: 30,
  rollup_retention_days: 400,
  flush_interval_ms: 3_600_000,
  flush_rows: 10_000_000,
};
const telemetry = new Telemetry({ db, config, log: silentLogger, isTenant: () => true });
const tenant = { id: 'acme', audit: { arguments: false, max_argument_bytes: 4096 } };
const session = {
  id: 's',
  caller: { userId: 'alice', permissions: [], isAdmin: false },
  capabilities: undefined,
  deliver: () => true,
};
const request = {
  jsonrpc: '2.0',
  id: 1,
  method: process.env.METHOD ?? 'tools/call',
  params: { name: 'echo', arguments: { text: 'hello' } },
};
const response = { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'hello' }] } };
// As the fronts and the child link do: sizes noted where the text was parsed.
noteWireBytes(request, Buffer.byteLength(JSON.stringify(request)));
noteWireBytes(response, Buffer.byteLength(JSON.stringify(response)));
const child = async () => response;

async function run(stages, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await runStages(stages, { tenant, session, request, startedAt: performance.now() }, child);
  }
  return Number(process.hrtime.bigint() - start) / n;
}

// Warm up both paths, then alternate rounds and keep the median.
await run([], 20_000);
await run([telemetry.stage], 20_000);
telemetry.flush();
const bare = [];
const staged = [];
const flushPerRow = [];
for (let round = 0; round < 5; round++) {
  bare.push(await run([], calls));
  staged.push(await run([telemetry.stage], calls));
  const start = process.hrtime.bigint();
  telemetry.flush();
  flushPerRow.push(Number(process.hrtime.bigint() - start) / calls);
}
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
const result = {
  calls_per_round: calls,
  stage_ns_per_call: Math.round(median(staged) - median(bare)),
  pipeline_without_stage_ns: Math.round(median(bare)),
  writer_ns_per_row_off_path: Math.round(median(flushPerRow)),
  audited_method: request.method,
};
console.log(JSON.stringify(result, null, 2));
telemetry.close();
db.close();
rmSync(dir, { recursive: true, force: true });
