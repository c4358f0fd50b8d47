#!/usr/bin/env node
// The property-based tests of `npm test`, run longer: the HTTP front's
// JSON-RPC handling against a real `serve`, the manifest loader, and
// poisoned JSON (nested, huge, odd) from a client (HTTP body, stdio line)
// and from a child (stdout line) while the next calls must still be audited.
//
//   npm run fuzz                               # 20 000 runs each, a random seed
//   node scripts/fuzz.mjs --runs 100000 --seed 42
//
// `npm test` runs the same properties with a fixed seed and a few hundred
// runs. A failure prints the seed and the path that replay it; the seed used
// is printed first either way.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FILES = [
  'test/unit/fuzz-manifest.test.ts',
  'test/integration/fuzz-http.test.ts',
  'test/integration/fuzz-poison.test.ts',
];

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`fuzz: --${name} takes a whole number, got ${process.argv[index + 1]}\n`);
    process.exit(2);
  }
  return value;
}

const runs = option('runs', 20_000);
const seed = option('seed', Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`fuzz: ${runs} runs per property, seed ${seed}\n`);
const root = fileURLToPath(new URL('..', import.meta.url));
const result = spawnSync('npx', ['vitest', 'run', ...FILES], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, MCP_TENANTS_FUZZ_RUNS: String(runs), MCP_TENANTS_FUZZ_SEED: String(seed) },
});
if (result.status !== 0)
  process.stdout.write(`fuzz: failed; replay with --seed ${seed} --runs ${runs}\n`);
process.exit(result.status ?? 1);
