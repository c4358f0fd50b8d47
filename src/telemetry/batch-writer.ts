/**
 * Collects records on the request path (an array push) and writes them
 * later, in one transaction per `intervalMs` or per `maxRows` records,
 * whichever comes first. A request never waits for the disk; a SIGKILL
 * loses at most one interval; `close()` writes everything left.
 *
 * One record that cannot be written never holds up the others: when a
 * batch fails and the store is not to blame, the batch is written again
 * row by row, once, and only the rows that fail again are dropped.
 */
export interface BatchWriterOptions<T> {
  /** Writes one batch, in one transaction; called with an empty batch on every tick. */
  write: (batch: T[]) => void;
  intervalMs: number;
  /** A batch this large is written on the next turn of the event loop. */
  maxRows: number;
  /** Beyond this many unwritten records (the store keeps failing) the oldest are dropped. */
  maxPending?: number;
  /**
   * Whether a failure says the store cannot be written now, whatever the
   * rows (busy, full, read-only): the batch is then kept for the next
   * attempt. Any other failure is blamed on the batch's rows.
   */
  isUnavailable: (error: unknown) => boolean;
  /** The store was unavailable; `pending` records wait for the next attempt. */
  onError: (error: unknown, pending: number) => void;
  /** Records given up on: rows that failed on their own, the oldest beyond `maxPending`, or what the store could not take at close. */
  onDropped: (records: readonly T[], error: unknown) => void;
}

export class BatchWriter<T> {
  private queue: T[] = [];
  private readonly timer: NodeJS.Timeout;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private droppedTotal = 0;

  constructor(private readonly options: BatchWriterOptions<T>) {
    this.timer = setInterval(() => this.flush(), options.intervalMs);
    this.timer.unref();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Records dropped since the start, for whatever reason. */
  get dropped(): number {
    return this.droppedTotal;
  }

  push(record: T): void {
    if (this.closed) return;
    this.queue.push(record);
    if (this.queue.length >= this.options.maxRows && !this.immediate) {
      this.immediate = setImmediate(() => this.flush());
    }
  }

  /** Writes everything queued now. Never throws: failures are reported, retried or dropped. */
  flush(): void {
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const batch = this.queue;
    this.queue = [];
    try {
      this.options.write(batch);
      return;
    } catch (error) {
      if (this.options.isUnavailable(error)) {
        this.keep(batch, error);
        return;
      }
    }
    this.writeRowByRow(batch);
  }

  /** Stops the timer and writes what is left; what the store cannot take then is dropped. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
    if (this.queue.length > 0) {
      const left = this.queue;
      this.queue = [];
      this.drop(left, new Error('the store could not be written at close'));
    }
  }

  /** After a failure blamed on rows: each row once on its own; those that fail again are dropped. */
  private writeRowByRow(batch: T[]): void {
    const failed: T[] = [];
    let firstError: unknown;
    for (let i = 0; i < batch.length; i++) {
      const row = batch[i] as T;
      try {
        this.options.write([row]);
      } catch (error) {
        if (this.options.isUnavailable(error)) {
          // The store went away meanwhile: the rest waits, as a whole batch would.
          this.keep(batch.slice(i), error);
          break;
        }
        failed.push(row);
        firstError ??= error;
      }
    }
    if (failed.length > 0) this.drop(failed, firstError);
  }

  /** Keeps records for the next attempt, in order, within `maxPending`. */
  private keep(records: T[], error: unknown): void {
    this.queue = records.concat(this.queue);
    const max = this.options.maxPending ?? this.options.maxRows * 100;
    const excess = this.queue.length - max;
    if (excess > 0) this.drop(this.queue.splice(0, excess), error);
    this.options.onError(error, this.queue.length);
  }

  private drop(records: T[], error: unknown): void {
    this.droppedTotal += records.length;
    this.options.onDropped(records, error);
  }
}
