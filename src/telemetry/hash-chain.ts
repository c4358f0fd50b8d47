import { createHash } from 'node:crypto';

/** `prev_hash` of a chain's first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** The columns of an audit row that its hash covers, exactly as stored. */
export interface ChainedFields {
  tenant: string;
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  /** The stored JSON text. */
  detail: string | null;
}

export interface ChainedRow extends ChainedFields {
  prev_hash: string;
  hash: string;
}

/** sha256 over the previous row's hash and this row's fields, hex. */
export function chainHash(prevHash: string, row: ChainedFields): string {
  const canonical = JSON.stringify([
    row.tenant,
    row.seq,
    row.ts,
    row.actor,
    row.action,
    row.target,
    row.outcome,
    row.detail,
  ]);
  // One update of the joined text: the same bytes as three, at fewer native calls.
  return createHash('sha256').update(`${prevHash}\n${canonical}`).digest('hex');
}

export interface ChainProblem {
  seq: number;
  problem: string;
}

/**
 * Checks one tenant's rows (ascending `seq`) against the chain and against
 * the recorded head (the last seq and hash written). A modified row fails its
 * own hash; a modified hash fails the next row's link; a deleted row leaves a
 * gap in `seq`; deleted last rows no longer reach the head.
 */
export function verifyChain(
  rows: Iterable<ChainedRow>,
  head: { seq: number; hash: string } | undefined,
): { rows: number; problems: ChainProblem[]; last: { seq: number; hash: string } } {
  const verifier = new ChainVerifier();
  for (const row of rows) verifier.add(row);
  return verifier.finish(head);
}

/** `verifyChain` a row at a time, for rows that arrive asynchronously (PostgreSQL). */
export class ChainVerifier {
  private readonly problems: ChainProblem[] = [];
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private count = 0;

  add(row: ChainedRow): void {
    const { problems, expectedSeq } = this;
    this.count += 1;
    if (row.seq !== expectedSeq) {
      const missing =
        row.seq === expectedSeq + 1
          ? `row ${expectedSeq} is missing (deleted)`
          : row.seq > expectedSeq
            ? `rows ${expectedSeq}-${row.seq - 1} are missing (deleted)`
            : `seq ${row.seq} appears out of order`;
      problems.push({ seq: row.seq, problem: missing });
    } else if (row.prev_hash !== this.prevHash) {
      problems.push({
        seq: row.seq,
        problem: 'does not link to the previous row (that row or this link was changed)',
      });
    }
    if (chainHash(row.prev_hash, row) !== row.hash) {
      problems.push({ seq: row.seq, problem: 'was modified: its hash does not match its content' });
    }
    this.expectedSeq = row.seq + 1;
    this.prevHash = row.hash;
  }

  finish(head: { seq: number; hash: string } | undefined): {
    rows: number;
    problems: ChainProblem[];
    last: { seq: number; hash: string };
  } {
    const problems = this.problems;
    const last = { seq: this.expectedSeq - 1, hash: this.prevHash };
    if (head && (head.seq !== last.seq || head.hash !== last.hash)) {
      problems.push({
        seq: head.seq,
        problem:
          head.seq > last.seq
            ? `the chain ends at ${last.seq} but ${head.seq} rows were written (last rows deleted)`
            : `the chain's last row does not match the recorded head (seq ${head.seq})`,
      });
    }
    return { rows: this.count, problems, last };
  }
}
