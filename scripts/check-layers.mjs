#!/usr/bin/env node
// The layering check: reads every import in src/, fails on a circle between
// folders (or between files), and on an import that climbs the layer order
// written in docs/architecture.md. `--graph` prints the folder graph.
//
// Type-only imports count: a circle of types is still a circle a reader has
// to hold in their head.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `--src <dir>` checks another tree (the script's own tests use it).
const srcFlag = process.argv.indexOf('--src');
const src =
  srcFlag > 0
    ? path.resolve(process.argv[srcFlag + 1] ?? '.')
    : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

// Lower layers first. A folder may import only folders listed before it
// (and itself). Folders in one row are peers and may not import each other.
export const LAYERS = [
  ['core'], // contracts every layer shares: JSON-RPC, errors and codes, config types, stage contracts, logger
  ['manifest', 'store'], // the YAML manifest read into core's config types; the durable store
  ['auth', 'policy', 'quota', 'telemetry', 'process'], // the stages of a request, and child processes
  ['relay'], // one tenant's child shared by many sessions: ids, routing, local answers
  ['registry'], // the running manifest's tenants: their relays and child slots, reloads
  ['front'], // HTTP and stdio: sessions, transports, admin pages
  ['app', 'doctor'], // the composition root that wires one supervisor; the host checks
  ['cli'], // the commands
];
// Separate programs and the package's entry: they stand outside the order.
const OUTSIDE = {
  'tenant-server': ['core'], // the built-in child: a program of its own, run by `mcp-tenants child`
  '.': ['app', 'auth', 'core', 'manifest', 'relay'], // src/index.ts, the library's public surface
};
// Who may import a folder outside the order.
const IMPORTED_BY = { 'tenant-server': ['cli'] };

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const found = [];
  for (const match of text.matchAll(IMPORT)) {
    const spec = match[1] ?? match[2];
    if (!spec?.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    found.push(target);
  }
  return found;
}

/** The top folder under src/ a file belongs to ('.' for files directly in src/). */
function folderOf(file) {
  const rel = path.relative(src, file);
  const first = rel.split(path.sep)[0];
  return rel.includes(path.sep) ? first : '.';
}

function cycles(graph) {
  // Tarjan's strongly connected components; every component of more than
  // one node (or a self-loop) is a circle.
  let index = 0;
  const stack = [];
  const onStack = new Set();
  const indexOf = new Map();
  const low = new Map();
  const found = [];
  const visit = (node) => {
    indexOf.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indexOf.get(next)));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indexOf.has(node)) visit(node);
  return found;
}

const files = walk(src);
const fileGraph = new Map();
const folderGraph = new Map();
const edges = new Map(); // "from -> to" => an example file import
for (const file of files) {
  const targets = importsOf(file);
  fileGraph.set(file, new Set(targets));
  const from = folderOf(file);
  if (!folderGraph.has(from)) folderGraph.set(from, new Set());
  for (const target of targets) {
    const to = folderOf(target);
    if (to === from) continue;
    folderGraph.get(from).add(to);
    const key = `${from} -> ${to}`;
    if (!edges.has(key))
      edges.set(key, `${path.relative(src, file)} imports ${path.relative(src, target)}`);
  }
}

if (process.argv.includes('--graph')) {
  for (const [from, tos] of [...folderGraph].sort())
    console.log(`${from}: ${[...tos].sort().join(' ')}`);
}

const rank = new Map();
LAYERS.forEach((row, i) => {
  for (const folder of row) rank.set(folder, i);
});

const problems = [];
for (const component of cycles(folderGraph)) {
  problems.push(`folders import each other in a circle: ${component.join(' ↔ ')}`);
}
for (const component of cycles(fileGraph)) {
  problems.push(
    `files import each other in a circle: ${component.map((f) => path.relative(src, f)).join(' ↔ ')}`,
  );
}
for (const [from, tos] of folderGraph) {
  for (const to of tos) {
    const example = edges.get(`${from} -> ${to}`);
    if (from in OUTSIDE) {
      if (!OUTSIDE[from].includes(to)) problems.push(`${from} may not import ${to} (${example})`);
      continue;
    }
    if (!rank.has(from)) {
      problems.push(`src/${from} is in no layer: add it to LAYERS in scripts/check-layers.mjs`);
      continue;
    }
    if (to in IMPORTED_BY) {
      if (!IMPORTED_BY[to].includes(from))
        problems.push(`${from} may not import ${to} (${example})`);
      continue;
    }
    if (!rank.has(to) || rank.get(to) >= rank.get(from)) {
      problems.push(`${from} may not import ${to}: it is not below it (${example})`);
    }
  }
}

if (problems.length > 0) {
  for (const problem of [...new Set(problems)]) console.error(`layers: ${problem}`);
  console.error(`layers: ${problems.length} problem(s); the order is in docs/architecture.md`);
  process.exit(1);
}
console.log(
  `layers: ${files.length} files, ${folderGraph.size} folders, no circle, every import goes down`,
);
