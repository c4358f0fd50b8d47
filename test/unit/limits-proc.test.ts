import { describe, expect, it } from 'vitest';
import {
  ownCgroupDirs,
  parseMountinfo,
  parseProcCgroup,
} from '../../src/process/limits/cgroup-paths.js';
import { parseStat, sumStats } from '../../src/process/limits/proc-stats.js';

// A real line, with a command name that holds spaces and parentheses.
const STAT =
  '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 150 50 7 3 20 0 11 0 512136 1200000000 12000 18446744073709551615 1 1 0 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0';

describe('parseStat', () => {
  it('reads the fields after the last parenthesis', () => {
    expect(parseStat(STAT)).toEqual({
      pid: 4242,
      state: 'S',
      ppid: 1,
      pgrp: 4242,
      utime: 150,
      stime: 50,
      cutime: 7,
      cstime: 3,
      threads: 11,
      rssPages: 12000,
    });
  });

  it('refuses what is not a stat line', () => {
    expect(parseStat('')).toBeUndefined();
    expect(parseStat('12 (cut) S 1')).toBeUndefined();
  });

  it('sums memory, CPU time (reaped children included) and tasks', () => {
    const one = parseStat(STAT);
    const two = parseStat(STAT.replace('4242 (node (x) y)', '4243 (sleep)'));
    if (!one || !two) throw new Error('unparsed');
    expect(sumStats([one, two], { ticksPerSecond: 100, pageBytes: 4096 })).toEqual({
      rssBytes: 2 * 12000 * 4096,
      cpuSeconds: 4.2,
      pids: 22,
      processes: 2,
    });
  });
});

// This CI machine's shape: v1 hierarchies plus an empty cgroup2 at /unified.
const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '50 23 0:40 / /my\\040disk rw - ext4 /dev/sda1 rw',
].join('\n');

const HYBRID_CGROUP = [
  '9:name=systemd:/',
  '8:pids:/',
  '4:memory:/process_api/abc',
  '2:cpu,cpuacct:/',
  '0::/',
].join('\n');

describe('cgroup paths', () => {
  it('lists cgroup mounts with their controllers', () => {
    const mounts = parseMountinfo(HYBRID_MOUNTINFO);
    expect(mounts.map((mount) => [mount.mountPoint, mount.version, mount.controllers])).toEqual([
      ['/sys/fs/cgroup/cpu,cpuacct', 1, ['cpu', 'cpuacct']],
      ['/sys/fs/cgroup/memory', 1, ['memory']],
      ['/sys/fs/cgroup/pids', 1, ['pids']],
      ['/sys/fs/cgroup/systemd', 1, []],
      ['/sys/fs/cgroup/unified', 2, []],
    ]);
  });

  it('reads the own cgroup per hierarchy', () => {
    const paths = parseProcCgroup(HYBRID_CGROUP);
    expect(paths.get('memory')).toBe('/process_api/abc');
    expect(paths.get('cpuacct')).toBe('/');
    expect(paths.get('')).toBe('/');
  });

  it('finds the own folders below each mount', () => {
    expect(ownCgroupDirs(HYBRID_MOUNTINFO, HYBRID_CGROUP)).toEqual({
      v2: '/sys/fs/cgroup/unified',
      v1: {
        memory: '/sys/fs/cgroup/memory/process_api/abc',
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        pids: '/sys/fs/cgroup/pids',
      },
    });
  });

  it('maps a namespaced mount root and a pure v2 host', () => {
    const mountinfo = '30 25 0:26 /system.slice/app.service /sys/fs/cgroup rw - cgroup2 cgroup2 rw';
    expect(ownCgroupDirs(mountinfo, '0::/system.slice/app.service/sub').v2).toBe(
      '/sys/fs/cgroup/sub',
    );
    // Our cgroup outside what the mount shows: unusable.
    expect(ownCgroupDirs(mountinfo, '0::/user.slice').v2).toBeUndefined();
  });
});
