/** Told how far a long read has gone: what it reads, and rows read so far. */
export type RowProgress = (phase: string, rows: number) => void;

/** Rows between two progress calls: often enough to see, rare enough to cost nothing. */
const EVERY_ROWS = 4096;

/** Passes `rows` through, telling `progress` the count as it grows and once at the end. */
export function* countRows<T>(
  rows: Iterable<T>,
  phase: string,
  progress: RowProgress | undefined,
): Generator<T> {
  if (!progress) {
    yield* rows;
    return;
  }
  let count = 0;
  for (const row of rows) {
    yield row;
    count += 1;
    if (count % EVERY_ROWS === 0) progress(phase, count);
  }
  progress(phase, count);
}

/** `countRows` for rows that arrive asynchronously (a PostgreSQL cursor). */
export async function* countRowsAsync<T>(
  rows: AsyncIterable<T>,
  phase: string,
  progress: RowProgress | undefined,
): AsyncGenerator<T> {
  let count = 0;
  for await (const row of rows) {
    yield row;
    count += 1;
    if (progress && count % EVERY_ROWS === 0) progress(phase, count);
  }
  progress?.(phase, count);
}
