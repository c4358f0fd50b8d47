// Writes dist/tenant-server/bundle.mjs, the built-in child in one file (run by
// `npm run build`, after tsc). Node then reads and links one module instead of
// a few hundred (the SDK, zod, ajv): the child answers its first request in
// about half the time. Native and optional drivers stay outside: better-sqlite3
// loads its addon, pg is only loaded for a PostgreSQL store.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/tenant-server/main.js', import.meta.url).pathname],
  outfile: new URL('../dist/tenant-server/bundle.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pg'],
  // Whitespace and syntax only: names stay, so a child's stack trace still reads.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Bundled CommonJS dependencies may call require(); give them Node's.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
