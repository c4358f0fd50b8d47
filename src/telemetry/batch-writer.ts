/**
 * Collects records on the request path (an array push) and writes them
 * later, in one transaction per `intervalMs` or per `maxRows` records,
 * whichever comes first. A request never waits for the disk; a SIGKILL
 * loses at most one interval; `close()` writes everything left.
 *
 * One record that cannot be written never holds up the others: when a
 * batch fails and the store is not to blame, the batch is written again
 * row by row, once, and only the rows that fail again are dropped.
 *
 * `write` may be synchronous (SQLite: a flush completes before `flush()`
 * returns, without a single await) or return a promise (PostgreSQL): then
 * one write is in flight at a time, and a flush asked for meanwhile waits
 * for it and writes everything queued by then, in one batch.
 */
export interface BatchWriterOptions<T> {
  /** Writes one batch, in one transaction; called with an empty batch on every tick. */
  write: (batch: T[]) => void | Promise<void>;
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
  private closing: Promise<void> | undefined;
  private droppedTotal = 0;
  /** The asynchronous write under way, if any. */
  private inFlight: Promise<void> | undefined;
  /** The one flush that follows it, shared by everyone who asked meanwhile. */
  private next: Promise<void> | undefined;

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

  /**
   * Writes everything queued now; with an asynchronous store, returns when
   * it is written. Never throws nor rejects: failures are reported, retried
   * or dropped.
   */
  flush(): Promise<void> | undefined {
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    if (this.inFlight) {
      this.next ??= this.inFlight.then(() => {
        this.next = undefined;
        return this.flush();
      });
      return this.next;
    }
    const batch = this.queue;
    this.queue = [];
    const written = this.writeBatch(batch);
    if (!written) return undefined;
    const inFlight = written.finally(() => {
      if (this.inFlight === inFlight) this.inFlight = undefined;
    });
    this.inFlight = inFlight;
    return inFlight;
  }

  /**
   * Stops the timer and writes what is left (after the write in flight);
   * what the store cannot take then is dropped. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    clearInterval(this.timer);
    const dropLeft = (): void => {
      if (this.queue.length === 0) return;
      const left = this.queue;
      this.queue = [];
      this.drop(left, new Error('the store could not be written at close'));
    };
    const flushed = this.flush();
    if (flushed) {
      this.closing = flushed.then(dropLeft);
    } else {
      dropLeft();
      this.closing = Promise.resolve();
    }
    return this.closing;
  }

  /** One attempt at a batch; a promise only when the store answered with one. */
  private writeBatch(batch: T[]): Promise<void> | undefined {
    let result: void | Promise<void>;
    try {
      result = this.options.write(batch);
    } catch (error) {
      return this.failed(batch, error);
    }
    if (!result) return undefined;
    return result.then(
      () => undefined,
      (error: unknown) => this.failed(batch, error),
    );
  }

  private failed(batch: T[], error: unknown): Promise<void> | undefined {
    if (this.options.isUnavailable(error)) {
      this.keep(batch, error);
      return undefined;
    }
    return this.writeRowByRow(batch, 0, [], undefined);
  }

  /**
   * After a failure blamed on rows: each row once on its own, from `from`;
   * those that fail again are dropped. Goes on asynchronously from the first
   * row whose write returns a promise.
   */
  private writeRowByRow(
    batch: T[],
    from: number,
    failed: T[],
    firstError: unknown,
  ): Promise<void> | undefined {
    // What a row's failure means; false when the rest of the batch waits for the store.
    const rowFailed = (i: number, error: unknown): boolean => {
      if (this.options.isUnavailable(error)) {
        // The store went away meanwhile: the rest waits, as a whole batch would.
        this.keep(batch.slice(i), error);
        return false;
      }
      failed.push(batch[i] as T);
      firstError ??= error;
      return true;
    };
    for (let i = from; i < batch.length; i++) {
      let result: void | Promise<void>;
      try {
        result = this.options.write([batch[i] as T]);
      } catch (error) {
        if (rowFailed(i, error)) continue;
        break;
      }
      if (result) {
        return result.then(
          () => this.writeRowByRow(batch, i + 1, failed, firstError),
          (error: unknown) =>
            rowFailed(i, error)
              ? this.writeRowByRow(batch, i + 1, failed, firstError)
              : this.dropFailed(failed, firstError),
        );
      }
    }
    this.dropFailed(failed, firstError);
    return undefined;
  }

  private dropFailed(failed: T[], error: unknown): undefined {
    if (failed.length > 0) this.drop(failed, error);
    return undefined;
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
