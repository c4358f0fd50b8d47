// The same supervisor as `mcp-tenants serve`, with the request stages that
// keep durable state switched off: no telemetry rows or audit trail, no
// revocation, permission or quota checks — only the caller's identity is
// stamped. The benchmark runs it next to `serve` to price that path per
// call. Benchmark use only; usage: node bench/serve-lean.mjs <manifest>

import { Supervisor } from '../dist/app/supervisor.js';
import { createLogger } from '../dist/core/logger.js';
import { loadManifest } from '../dist/manifest/load.js';
import { identityStage } from '../dist/relay/identity-stage.js';

const manifest = loadManifest(process.argv[2]);
const supervisor = await Supervisor.open({
  manifest,
  log: createLogger({ level: 'warn' }),
  hooks: { stages: [identityStage()] },
});
const front = await supervisor.startHttp({ port: 0 });
process.stdout.write(`mcp-tenants (request stages off) at ${front.url}\n`);
const stop = () => supervisor.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
