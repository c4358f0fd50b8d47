// Memory and CPU of a process tree, read from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond;

/** Clock ticks per second for utime/stime (`getconf CLK_TCK`, normally 100). */
export function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** ppid, state and CPU ticks of one process, or undefined once it is gone. */
function statOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      state: fields[0],
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]), // utime + stime
    };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`, breadth first. */
export function descendants(root) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue; // not a digit: not a pid
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = statOf(pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const found = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid) {
  const stat = statOf(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Resident set size of one process in bytes (VmRSS), 0 once gone. */
export function rssOf(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The roots plus all their descendants. */
export function treeOf(roots) {
  const all = new Set();
  for (const root of roots) {
    if (!isAlive(root)) continue;
    all.add(root);
    for (const pid of descendants(root)) all.add(pid);
  }
  return [...all];
}

/** Summed RSS (bytes) and process count of the trees under `roots`. */
export function treeRss(roots) {
  const pids = treeOf(roots);
  let bytes = 0;
  for (const pid of pids) bytes += rssOf(pid);
  return { bytes, processes: pids.length };
}

/**
 * CPU seconds (user + system) consumed by the trees under `roots`. Keeps the
 * last reading of every pid it has seen, so a sampler started before a phase
 * still counts processes that exit during it.
 */
export class CpuMeter {
  constructor(roots) {
    this.roots = roots;
    this.start = new Map();
    this.last = new Map();
    for (const pid of treeOf(roots)) {
      const stat = statOf(pid);
      if (stat) this.start.set(pid, stat.ticks);
    }
  }

  /** Refreshes the readings (call now and then for trees whose members come and go). */
  sample() {
    for (const pid of treeOf(this.roots)) {
      const stat = statOf(pid);
      if (!stat) continue;
      if (!this.start.has(pid)) this.start.set(pid, 0); // born during the phase
      this.last.set(pid, stat.ticks);
    }
  }

  /** CPU seconds since construction. */
  seconds() {
    this.sample();
    let ticks = 0;
    for (const [pid, end] of this.last) ticks += end - (this.start.get(pid) ?? 0);
    return ticks / clockTicks();
  }
}

/** Samples the summed RSS of the trees every `intervalMs`; `stop()` returns the peak. */
export function peakRssSampler(roots, intervalMs = 250) {
  let peak = { bytes: 0, processes: 0 };
  const take = () => {
    const now = treeRss(roots);
    if (now.bytes > peak.bytes) peak = now;
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    take,
    /** The peak so far. */
    peek() {
      take();
      return peak;
    },
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}
