import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ProgressLine } from '../../src/cli/progress-line.js';
import { AuditAppender, verifyAudit } from '../../src/telemetry/audit-log.js';
import type { AuditEntry } from '../../src/telemetry/records.js';
import { countRows } from '../../src/telemetry/row-progress.js';
import { ensureTelemetrySchema } from '../../src/telemetry/schema.js';

/** A stream that keeps what was written, as a terminal or as a pipe. */
function captured(isTTY: boolean): {
  stream: PassThrough & { isTTY: boolean };
  text: () => string;
} {
  const stream = Object.assign(new PassThrough(), { isTTY });
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { stream, text: () => chunks.join('') };
}

async function flushed(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('the progress line of long reads', () => {
  it('stays silent for work that ends within the quiet time', async () => {
    let now = 0;
    const { stream, text } = captured(false);
    const line = new ProgressLine({ stream, now: () => now });
    now = 900;
    line.update('verifying acme', 4096);
    line.done();
    await flushed();
    expect(text()).toBe('');
  });

  it('prints a plain line every few seconds to a pipe', async () => {
    let now = 0;
    const { stream, text } = captured(false);
    const line = new ProgressLine({ stream, now: () => now });
    for (const [at, rows] of [
      [1500, 4096],
      [3000, 8192],
      [6600, 12288],
    ] as const) {
      now = at;
      line.update('reading requests', rows);
    }
    line.done();
    await flushed();
    expect(text()).toBe('reading requests: 4,096 rows read\nreading requests: 12,288 rows read\n');
  });

  it('rewrites one line on a terminal and clears it when done', async () => {
    let now = 2000;
    const { stream, text } = captured(true);
    const line = new ProgressLine({ stream, now: () => now });
    now = 3500;
    line.update('verifying acme', 4096);
    now = 3900;
    line.update('verifying acme', 8192);
    line.done();
    await flushed();
    expect(text()).toBe(
      '\r\x1b[2Kverifying acme: 4,096 rows read\r\x1b[2Kverifying acme: 8,192 rows read\r\x1b[2K',
    );
  });
});

describe('counting rows as they are read', () => {
  let db: Database.Database | undefined;
  afterEach(() => db?.close());

  it('passes every row through and reports the running and final counts', () => {
    const seen: Array<[string, number]> = [];
    const rows = [
      ...countRows(
        Array.from({ length: 9000 }, (_, i) => i),
        'phase',
        (phase, n) => seen.push([phase, n]),
      ),
    ];
    expect(rows).toHaveLength(9000);
    expect(rows[8999]).toBe(8999);
    expect(seen).toEqual([
      ['phase', 4096],
      ['phase', 8192],
      ['phase', 9000],
    ]);
  });

  it('reports the rows of each audit chain that verify reads', () => {
    db = new Database(':memory:');
    ensureTelemetrySchema(db);
    const appender = new AuditAppender(db);
    const entry = (tenant: string, ts: number): AuditEntry => ({
      kind: 'audit',
      ts,
      tenant,
      actor: 'alice',
      action: 'tools/call',
      target: 'data_get',
      outcome: 'ok',
      detail: null,
    });
    const entries = [
      ...Array.from({ length: 5000 }, (_, i) => entry('acme', i)),
      ...Array.from({ length: 3 }, (_, i) => entry('globex', i)),
    ];
    const database = db;
    database.transaction(() => appender.append(entries))();
    const seen: string[] = [];
    const chains = verifyAudit(database, undefined, (phase, rows) => seen.push(`${phase} ${rows}`));
    expect(chains.map((chain) => [chain.tenant, chain.rows, chain.ok])).toEqual([
      ['acme', 5000, true],
      ['globex', 3, true],
    ]);
    expect(seen).toEqual(['verifying acme 4096', 'verifying acme 5000', 'verifying globex 3']);
  });
});
