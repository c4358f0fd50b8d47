#!/usr/bin/env node
// The layering check. Reads every import of every source file in src/ with
// TypeScript's own parser (type-only imports, re-exports, dynamic imports
// and `require` included: a circle of types is still a circle to a reader),
// and fails on
//   - a circle between folders, or between files, or a file importing itself;
//   - an import of a folder that is not on the importer's list in FOLDERS;
//   - an import into a folder past the files it lets others use (THROUGH);
//   - an import it cannot follow: a computed `import()`, or a package name
//     that points back into this package.
// `npm run layers`; `--graph` prints the folders' imports; `--src DIR`
// checks another tree (the script's own tests do).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Each folder of src/, what it is for, and the folders it may import. The
 * lists only ever point down: core ← manifest, store ← the stages and
 * process ← relay ← registry ← front ← app ← cli. docs/architecture.md
 * draws the same picture.
 */
export const FOLDERS = {
  core: {
    purpose:
      'contracts every layer shares: JSON-RPC, errors and codes, config types, stage contracts, logger',
    imports: [],
  },
  manifest: {
    purpose: "reads, validates and edits the YAML manifest into core's config types",
    imports: ['core'],
  },
  store: {
    purpose:
      'where the durable state lives: the embedded SQLite database, or PostgreSQL and its migrations',
    imports: ['core'],
  },
  auth: {
    purpose: 'tokens: verify, sign, permissions syntax, revocations',
    imports: ['core', 'store'],
  },
  policy: {
    purpose: 'the policy stage: permissions, filtered and capped lists',
    imports: ['core', 'store'],
  },
  quota: {
    purpose: 'the quota stage: rate, concurrency and storage limits',
    imports: ['core', 'store'],
  },
  telemetry: {
    purpose: 'the telemetry stage, audit trail, report, /metrics',
    imports: ['core', 'store'],
  },
  process: {
    purpose:
      'child processes: spawn, link, slot, restart policy, limits, run-as; nothing of the relay',
    imports: ['core'],
  },
  relay: {
    purpose: "one tenant's child shared by many sessions, over an injected child handle",
    imports: ['core'],
  },
  cluster: {
    purpose:
      'nodes of one service: registration, tenant leases, placement, forwarding to the owner',
    imports: ['core', 'store'],
  },
  registry: {
    purpose: "the running manifest's tenants: their relays and child slots, reloads",
    imports: ['core', 'process', 'relay'],
  },
  front: {
    purpose: 'HTTP and stdio: sessions, transports, admin pages',
    imports: ['core', 'auth', 'telemetry', 'process', 'relay', 'registry'],
  },
  app: {
    purpose: 'the composition root: wires one supervisor and closes it in order',
    imports: [
      'core',
      'store',
      'auth',
      'policy',
      'quota',
      'telemetry',
      'process',
      'relay',
      'registry',
      'front',
      'cluster',
    ],
  },
  doctor: {
    purpose: 'the checks of `mcp-tenants doctor`',
    imports: ['core', 'manifest', 'store', 'policy', 'process'],
  },
  cli: {
    purpose: 'the commands',
    imports: [
      'core',
      'manifest',
      'store',
      'auth',
      'policy',
      'quota',
      'telemetry',
      'process',
      'registry',
      'front',
      'app',
      'cluster',
      'doctor',
      'tenant-server',
    ],
  },
  'tenant-server': { purpose: 'the built-in child: a program of its own', imports: ['core'] },
  '.': {
    purpose: "src/index.ts: the library's public surface",
    imports: ['core', 'manifest', 'auth', 'app'],
  },
};

/** Folders that others may reach only through these files (and who is bound by it). */
export const THROUGH = {
  registry: { files: ['registry/tenants.ts'], for: ['front'] },
};

/** Files whose computed `import()` loads something outside src/, and what. */
export const COMPUTED_IMPORTS = {
  'tenant-server/tool-modules.ts': "a tenant's own tool modules, named in the manifest",
};

const SOURCE = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/;

function sourceRoot() {
  const flag = process.argv.indexOf('--src');
  if (flag > 0) return path.resolve(process.argv[flag + 1] ?? '.');
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Every module specifier in a file, and the imports it cannot follow. */
function specifiersOf(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found = [];
  const unfollowable = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node)) {
      const dynamic = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const required = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (dynamic || required) {
        const [first] = node.arguments;
        if (first && ts.isStringLiteralLike(first)) found.push(first.text);
        else if (dynamic)
          unfollowable.push(text.slice(node.getStart(source), node.end).slice(0, 80));
      }
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal)) {
        found.push(argument.literal.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { found, unfollowable };
}

/** The file a relative specifier names: `.js` stands for `.ts`, a folder for its index. */
function resolve(from, specifier) {
  const target = path.resolve(path.dirname(from), specifier);
  const candidates = [
    target.replace(/\.(m|c)?js$/, '.$1ts'),
    target,
    `${target}.ts`,
    path.join(target, 'index.ts'),
  ];
  for (const candidate of candidates) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return target;
}

function cycles(graph) {
  // Tarjan's strongly connected components: one of several nodes is a circle.
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

function check(src) {
  const packageName = 'mcp-tenants';
  const rel = (file) => path.relative(src, file).split(path.sep).join('/');
  const folderOf = (file) => {
    const parts = rel(file).split('/');
    return parts.length > 1 ? parts[0] : '.';
  };
  const problems = [];
  const files = walk(src);
  const fileGraph = new Map();
  const folderGraph = new Map();
  for (const file of files) {
    const { found, unfollowable } = specifiersOf(file);
    if (!(rel(file) in COMPUTED_IMPORTS)) {
      for (const call of unfollowable) {
        problems.push(`${rel(file)}: an import the check cannot follow: ${call}`);
      }
    }
    const targets = new Set();
    for (const specifier of found) {
      if (
        specifier === packageName ||
        specifier.startsWith(`${packageName}/`) ||
        specifier.startsWith('#')
      ) {
        problems.push(
          `${rel(file)} imports "${specifier}": import our own modules by relative path`,
        );
        continue;
      }
      if (!specifier.startsWith('.')) continue; // a package or node: builtin
      targets.add(resolve(file, specifier));
    }
    if (targets.has(file)) problems.push(`${rel(file)} imports itself`);
    fileGraph.set(file, targets);
    const from = folderOf(file);
    if (!folderGraph.has(from)) folderGraph.set(from, new Map());
    for (const target of targets) {
      const to = folderOf(target);
      if (to === from) continue;
      const edges = folderGraph.get(from);
      if (!edges.has(to)) edges.set(to, `${rel(file)} imports ${rel(target)}`);
      const through = THROUGH[to];
      if (through?.for.includes(from) && !through.files.includes(rel(target))) {
        problems.push(
          `${from} may reach ${to} only through ${through.files.join(', ')} (${rel(file)} imports ${rel(target)})`,
        );
      }
    }
  }
  for (const component of cycles(
    new Map([...folderGraph].map(([k, v]) => [k, new Set(v.keys())])),
  )) {
    problems.push(`folders import each other in a circle: ${component.join(' ↔ ')}`);
  }
  for (const component of cycles(fileGraph)) {
    problems.push(`files import each other in a circle: ${component.map(rel).join(' ↔ ')}`);
  }
  for (const [from, edges] of folderGraph) {
    const rule = FOLDERS[from];
    if (!rule) {
      problems.push(`src/${from} is in no layer: add it to FOLDERS in scripts/check-layers.mjs`);
      continue;
    }
    for (const [to, example] of edges) {
      if (!rule.imports.includes(to)) problems.push(`${from} may not import ${to} (${example})`);
    }
  }
  return { problems: [...new Set(problems)], files, folderGraph };
}

const { problems, files, folderGraph } = check(sourceRoot());
if (process.argv.includes('--graph')) {
  for (const [from, edges] of [...folderGraph].sort()) {
    console.log(`${from}: ${[...edges.keys()].sort().join(' ')}`);
  }
}
if (problems.length > 0) {
  for (const problem of problems) console.error(`layers: ${problem}`);
  console.error(
    `layers: ${problems.length} problem(s); what each folder may import is FOLDERS in scripts/check-layers.mjs`,
  );
  process.exit(1);
}
console.log(
  `layers: ${files.length} files, ${folderGraph.size} folders, no circle, every import allowed`,
);
