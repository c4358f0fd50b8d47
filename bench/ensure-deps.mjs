// Installs bench/package.json's packages (the anchor proxies supergateway and mcp-proxy,
// and playwright-core for the status page's browser test) into bench/node_modules when one
// is missing or at another version; the default install leaves them out.
// `npm run bench` runs it first; by hand: `npm --prefix bench ci`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = fileURLToPath(new URL('.', import.meta.url));
export const BENCH_MODULES = join(BENCH, 'node_modules');

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** The version of a package installed in bench/node_modules, or undefined. */
export function benchVersion(name) {
  const path = join(BENCH_MODULES, name, 'package.json');
  return existsSync(path) ? readJson(path).version : undefined;
}

/** The packages of bench/package.json that are missing or at another version. */
export function missingBenchDeps() {
  const wanted = readJson(join(BENCH, 'package.json')).dependencies;
  return Object.entries(wanted)
    .filter(([name, version]) => benchVersion(name) !== version)
    .map(([name, version]) => `${name}@${version}`);
}

/** Runs `npm --prefix bench ci` when something is missing; throws when that fails. */
export function ensureBenchDeps() {
  const missing = missingBenchDeps();
  if (missing.length === 0) return;
  console.error(
    `bench: installing ${missing.join(', ')} into bench/node_modules (npm --prefix bench ci): the benchmark's anchor proxies and the browser test's driver, left out of the default install`,
  );
  const npm = spawnSync('npm', ['--prefix', BENCH, 'ci', '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
  if (npm.status !== 0) {
    throw new Error(`npm --prefix bench ci failed (${npm.error?.message ?? `exit ${npm.status}`})`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    ensureBenchDeps();
  } catch (error) {
    console.error(`bench: ${error.message}`);
    process.exit(1);
  }
}
