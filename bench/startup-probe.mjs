// Child of bench/startup.mjs: times what the built-in tenant server does before it can
// answer, step by step, in a fresh Node process. Prints one JSON line.
// Usage: node bench/startup-probe.mjs <data-dir>
const bootstrapMs = performance.now(); // process start → first line of user code
const mark = () => performance.now();

// The SDK's two big dependencies first, so their share shows.
let t = mark();
await import('zod');
const zodImportMs = mark() - t;

t = mark();
await import('ajv');
const ajvImportMs = mark() - t;

t = mark();
await import('@modelcontextprotocol/sdk/server/mcp.js');
await import('@modelcontextprotocol/sdk/server/stdio.js');
const sdkImportMs = mark() - t; // the SDK itself, zod and ajv already loaded

t = mark();
await import('better-sqlite3');
const sqliteImportMs = mark() - t;

t = mark();
await import('../dist/tenant-server/main.js'); // the rest of our own modules (not run: not the entry)
const appImportMs = mark() - t;

t = mark();
const { openTenantDatabase } = await import('../dist/tenant-server/database.js');
const db = openTenantDatabase(process.argv[2]);
const sqliteOpenMs = mark() - t;
db.close();

process.stdout.write(
  `${JSON.stringify({ bootstrapMs, zodImportMs, ajvImportMs, sdkImportMs, sqliteImportMs, appImportMs, sqliteOpenMs, totalMs: mark() })}\n`,
);
