// Bundles the compiled CLI and the built-in child (run by `npm run build`,
// after tsc): Node then reads and links a few files instead of a few hundred
// modules (the SDK, zod, ajv, commander, yaml, jose, execa), which roughly
// halves the start of `mcp-tenants` and of every built-in child. Native and
// optional packages stay outside: better-sqlite3 loads its addon, pg and
// OpenTelemetry load only when a PostgreSQL store or an OTLP endpoint asks.
// bin/mcp-tenants.js and the child's spawn use a bundle only when it is not
// older than the compiled files (a build that skipped this step).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const dist = (path) => new URL(`../dist/${path}`, import.meta.url).pathname;

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg', '@opentelemetry/*'],
  // Whitespace and syntax only: names stay, so a stack trace still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Bundled CommonJS dependencies may call require(); give them Node's.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
};

// Chunks are named by their hash: the last build's must not pile up.
rmSync(dist('bundle'), { recursive: true, force: true });
// Two folders deep, as the compiled files are: paths built from
// import.meta.url (package.json, the schema, the child's entry) still resolve.
await build({
  ...common,
  entryPoints: { cli: dist('cli/main.js') },
  outdir: dist('bundle'),
  // Modules loaded on demand (tracing, `mcp-tenants child`) stay chunks of their own.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  entryNames: '[name]',
  outExtension: { '.js': '.mjs' },
});
await build({
  ...common,
  entryPoints: [dist('tenant-server/main.js')],
  outfile: dist('tenant-server/bundle.mjs'),
});
