/**
 * Collects records on the request path (an array push) and writes them
 * later, in one transaction per `intervalMs` or per `maxRows` records,
 * whichever comes first. A request never waits for the disk; a SIGKILL
 * loses at most one interval; `close()` writes everything left.
 */
export interface BatchWriterOptions<T> {
  /** Writes one batch, in one transaction; called with an empty batch on every tick. */
  write: (batch: T[]) => void;
  intervalMs: number;
  /** A batch this large is written on the next turn of the event loop. */
  maxRows: number;
  /** Beyond this many unwritten records (the disk keeps failing) the oldest are dropped. */
  maxPending?: number;
  onError: (error: unknown, pending: number, dropped: number) => void;
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

  /** Records dropped because writes kept failing. */
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

  /** Writes everything queued now. Never throws: failures are reported and retried. */
  flush(): void {
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    const batch = this.queue;
    this.queue = [];
    try {
      this.options.write(batch);
    } catch (error) {
      // Keep the batch for the next attempt, bounded.
      this.queue = batch.concat(this.queue);
      const max = this.options.maxPending ?? this.options.maxRows * 100;
      const excess = this.queue.length - max;
      if (excess > 0) {
        this.queue.splice(0, excess);
        this.droppedTotal += excess;
      }
      this.options.onError(error, this.queue.length, Math.max(0, excess));
    }
  }

  /** Stops the timer and writes what is left. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
  }
}
