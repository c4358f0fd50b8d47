// --profile: the 64-session, 1-tenant phase with the relay under --cpu-prof (mcp-tenants
// HTTP, and the floor for comparison), then where the relay's CPU time goes.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { closedLoop, withConcurrency } from './drive.mjs';
import { REPO, TARGETS } from './targets.mjs';

export const PROFILE_DIR = join(REPO, 'bench', 'results', 'profiles');

/** Runs the phase on `target`; returns { file, calls, callsPerSec, totalMs, top, areas }. */
export async function profileRelay(target, { seconds = 8, top = 15 } = {}, log = () => {}) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  // The compiled modules, not the bundle: the profile's areas are our folders.
  process.env.MCP_TENANTS_BUNDLE = '0';
  const startedAt = Date.now();
  const handle = await TARGETS[target].start({
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR],
  });
  let result;
  try {
    const sessions = await withConcurrency(Array.from({ length: 64 }), 16, () =>
      handle.openSession(0),
    );
    log(`profile ${target}: 64 sessions on one tenant for ${seconds} s`);
    result = await closedLoop(
      sessions.map((s) => () => s.echo()),
      { warmupMs: 500, measureMs: seconds * 1000, cpuRoots: handle.roots() },
    );
    await Promise.all(sessions.map((s) => s.close()));
  } finally {
    await handle.stop(); // SIGTERM: the supervisor exits cleanly and writes its profile
  }
  const file = newestProfile(startedAt);
  if (!file) throw new Error(`no .cpuprofile written to ${PROFILE_DIR}`);
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), top);
  // The profile spans the whole process life (start, warm-up, shutdown); per-call
  // figures divide by the calls measured, so they are upper bounds.
  return {
    target,
    file: relative(REPO, file),
    calls: result.calls,
    callsPerSec: result.callsPerSec,
    cpuUsPerCall: (result.cpuSeconds * 1e6) / result.calls,
    ...summary,
  };
}

function newestProfile(since) {
  const files = readdirSync(PROFILE_DIR)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(PROFILE_DIR, name))
    .filter((path) => statSync(path).mtimeMs >= since)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

/** Self time per function (name, file:line) and per area, from a V8 .cpuprofile. */
export function summarizeProfile(profile, top = 15) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = profile.endTime - profile.startTime;
  const functions = new Map();
  const areas = new Map();
  for (const [id, us] of selfUs) {
    const frame = byNode.get(id).callFrame;
    const where = location(frame);
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const ranked = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, pct: (100 * us) / total }));
  return {
    totalMs: Math.round(total / 1000),
    top: ranked(functions, top),
    areas: ranked(areas, 12),
  };
}

function location(frame) {
  if (!frame.url) return '';
  const path = frame.url.replace(/^file:\/\//, '');
  const shown = path.startsWith(REPO) ? relative(REPO, path) : path;
  return `${shown}:${frame.lineNumber + 1}`;
}

/** A coarse bucket for a frame: our code by folder, dependencies by package, Node by module. */
function areaOf(frame) {
  const name = frame.functionName;
  if (!frame.url) {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)' || name === '(program)' || name === '(root)') return name;
    if (/^JSON|stringify|parse/.test(name)) return 'JSON (native)';
    return `native: ${name || '(anonymous)'}`;
  }
  const url = frame.url.replace(/^file:\/\//, '');
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return `dep: ${dependency[1]}`;
  if (url.startsWith('node:')) {
    const module = url
      .slice(5)
      .replace(/^internal\//, '')
      .split('/')
      .slice(0, 2)
      .join('/');
    return `node: ${module}`;
  }
  const ours = /\/dist\/([^/]+)(?:\/([^/]+))?/.exec(url);
  if (ours)
    return `mcp-tenants: ${ours[1]}${ours[2] && !ours[2].endsWith('.js') ? `/${ours[2]}` : ''}`;
  // Relative, so results never carry the machine's paths.
  return url.startsWith(REPO) ? relative(REPO, url) : url;
}
