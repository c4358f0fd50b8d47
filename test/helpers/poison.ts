import { spawnSync } from 'node:child_process';
import type { Report } from '../../src/telemetry/report-lines.js';
import { CLI, runCli } from './serve-process.js';

/** Objects nested `depth` levels deep, as text (JSON.stringify could not make it). */
export function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A `tools/call` whose arguments nest `depth` levels; `idLast` puts the id after them. */
export function deepCall(id: string | number, depth = 10_000, idLast = false): string {
  const head = '{"jsonrpc":"2.0","method":"tools/call",';
  const params = `"params":{"name":"data_set","arguments":${deepJson(depth)}}`;
  const idMember = `"id":${JSON.stringify(id)}`;
  return idLast ? `${head}${params},${idMember}}` : `${head}${idMember},${params}}`;
}

export interface AuditLine {
  tenant: string;
  user: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: { arguments?: Record<string, unknown> } | null;
}

/** The audit trail and report of a manifest from `since` on, read with the CLI as a user would. */
export function trailOf(manifestPath: string, since: number) {
  const window = [
    '-m',
    manifestPath,
    '--since',
    new Date(since).toISOString(),
    '--until',
    new Date(Date.now() + 3_600_000).toISOString(),
    '--format',
    'json',
  ];
  const run = (command: string, extra: string[] = []) => {
    // A long fuzz run's trail is many megabytes of JSON.
    const result = spawnSync(process.execPath, [CLI, command, ...window, ...extra], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
      maxBuffer: 512 * 1024 * 1024,
    });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as unknown;
  };
  return {
    /** Rows oldest first; `extra` adds options such as `--user`, `--limit`. */
    audit: (...extra: string[]): AuditLine[] => (run('audit', extra) as { rows: AuditLine[] }).rows,
    report: (): Report => run('report') as Report,
    verified: (): boolean => {
      const result = runCli(['audit', 'verify', '-m', manifestPath, '--json']);
      const chains = (JSON.parse(result.stdout) as { chains: { ok: boolean }[] }).chains;
      return result.code === 0 && chains.every((chain) => chain.ok);
    },
  };
}
