#!/usr/bin/env node
import { statSync } from 'node:fs';

// The bundle `npm run build` makes starts in about half the time; one older
// than the compiled CLI (left by a build that skipped bundling) is not used,
// nor any with MCP_TENANTS_BUNDLE=0 (a CPU profile then names our files).
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const bundle = new URL('../dist/bundle/cli.mjs', import.meta.url);
let fresh = false;
try {
  fresh =
    process.env.MCP_TENANTS_BUNDLE !== '0' &&
    statSync(bundle).mtimeMs >= statSync(compiled).mtimeMs;
} catch {
  // No bundle: run the compiled modules.
}
const { main } = await import(fresh ? bundle.href : compiled.href);
await main(process.argv.slice(2));
