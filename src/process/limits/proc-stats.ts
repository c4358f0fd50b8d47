import { readdirSync, readFileSync } from 'node:fs';
import { execaSync } from 'execa';

/** The fields of `/proc/<pid>/stat` the watchdog needs. */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks. */
  utime: number;
  stime: number;
  /** Clock ticks of reaped children. */
  cutime: number;
  cstime: number;
  threads: number;
  /** Resident set, in pages. */
  rssPages: number;
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name (field 2) may hold
 * spaces and parentheses, so fields are counted from its last `)`.
 */
export function parseStat(line: string): ProcStat | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = line
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid: Number(line.slice(0, open).trim()),
    state: rest[0] ?? '?',
    ppid: field(4),
    pgrp: field(5),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
    threads: field(20),
    rssPages: field(24),
  };
  return Object.values(stat).some((value) => typeof value === 'number' && Number.isNaN(value))
    ? undefined
    : stat;
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execaSync('getconf', [name], { timeout: 2_000 }).stdout);
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

let cachedClock: { ticksPerSecond: number; pageBytes: number } | undefined;

/** `getconf CLK_TCK` and `PAGESIZE`, asked once per process (100 and 4096 if unknown). */
export function procClock(): { ticksPerSecond: number; pageBytes: number } {
  cachedClock ??= { ticksPerSecond: getconf('CLK_TCK', 100), pageBytes: getconf('PAGESIZE', 4096) };
  return cachedClock;
}

/** One process's stat, or undefined once it is gone (or a zombie). */
export function readStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const stat = parseStat(text);
  return stat && stat.state !== 'Z' && stat.state !== 'X' ? stat : undefined;
}

/** Every live process whose process group is one of `pgids`, grouped by pgid. */
export function readGroups(
  pgids: ReadonlySet<number>,
  procRoot = '/proc',
): Map<number, ProcStat[]> {
  const groups = new Map<number, ProcStat[]>();
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return groups;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry), procRoot);
    if (!stat || !pgids.has(stat.pgrp)) continue;
    const members = groups.get(stat.pgrp) ?? [];
    members.push(stat);
    groups.set(stat.pgrp, members);
  }
  return groups;
}

/** Memory, CPU time and task counts summed over `members`. */
export function sumStats(
  members: readonly ProcStat[],
  clock = procClock(),
): { rssBytes: number; cpuSeconds: number; pids: number; processes: number } {
  let pages = 0;
  let ticks = 0;
  let pids = 0;
  for (const stat of members) {
    pages += stat.rssPages;
    ticks += stat.utime + stat.stime + stat.cutime + stat.cstime;
    pids += stat.threads;
  }
  return {
    rssBytes: pages * clock.pageBytes,
    cpuSeconds: ticks / clock.ticksPerSecond,
    pids,
    processes: members.length,
  };
}
