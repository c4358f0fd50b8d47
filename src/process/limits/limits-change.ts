import type { Limits } from '../../core/config.js';

const KEYS = [
  'memory_mb',
  'cpu',
  'pids',
  'open_files',
] as const satisfies readonly (keyof Limits)[];

/** The limits whose value differs between two settings; set on one side only counts. */
export function changedLimits(before: Limits, after: Limits): (keyof Limits)[] {
  return KEYS.filter((key) => before[key] !== after[key]);
}

/** What changed, for the log: `cpu 0.5 -> 1, pids none -> 32`. */
export function describeChanges(before: Limits, after: Limits): string {
  return changedLimits(before, after)
    .map((key) => `${key} ${before[key] ?? 'none'} -> ${after[key] ?? 'none'}`)
    .join(', ');
}
