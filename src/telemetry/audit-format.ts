import type { AuditRow, ChainReport } from './audit-log.js';
import { csvLine, textTable, truncate } from './text-table.js';

export type AuditFormat = 'table' | 'json' | 'csv';

/** One audit row as `audit --format json|csv` prints it. */
function plain(row: AuditRow) {
  return {
    time: new Date(row.ts).toISOString(),
    tenant: row.tenant,
    seq: row.seq,
    user: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as unknown),
    hash: row.hash,
  };
}

export function formatAudit(rows: readonly AuditRow[], format: AuditFormat): string {
  if (format === 'json') return `${JSON.stringify({ rows: rows.map(plain) }, null, 2)}\n`;
  if (format === 'csv') {
    const header = [
      'time',
      'tenant',
      'seq',
      'user',
      'action',
      'target',
      'outcome',
      'detail',
      'hash',
    ];
    return [
      csvLine(header),
      ...rows.map((row) => {
        const line = plain(row);
        return csvLine([
          line.time,
          line.tenant,
          line.seq,
          line.user,
          line.action,
          line.target,
          line.outcome,
          row.detail,
          line.hash,
        ]);
      }),
    ].join('');
  }
  if (rows.length === 0) return 'No audit rows in this window.\n';
  return textTable(
    ['TIME (UTC)', 'TENANT', 'USER', 'ACTION', 'TARGET', 'OUTCOME'],
    rows.map((row) => [
      new Date(row.ts).toISOString().slice(5, 19).replace('T', ' '),
      truncate(row.tenant, 10),
      truncate(row.actor, 10),
      truncate(row.action, 15),
      truncate(row.target ?? '-', 16),
      truncate(row.outcome, 10),
    ]),
    6,
  );
}

export function formatVerification(chains: readonly ChainReport[]): string {
  if (chains.length === 0) return 'The audit trail is empty.\n';
  const lines: string[] = [];
  for (const chain of chains) {
    const name = chain.tenant === '-' ? '- (supervisor)' : chain.tenant;
    const status = chain.ok ? 'ok' : 'FAILED';
    lines.push(
      `${name}: ${chain.rows} rows, ${status}, head ${chain.head.seq} ${chain.head.hash.slice(0, 16)}\n`,
    );
    for (const problem of chain.problems) lines.push(`  row ${problem.seq}: ${problem.problem}\n`);
  }
  return lines.join('');
}
