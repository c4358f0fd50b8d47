/**
 * Bytes that slow readers leave unread, over every event stream and session
 * backlog of the HTTP front together (`server.max_unread_bytes`). Each
 * stream already has its own cap; this one stops many stalled readers at
 * once (a few hundred open GET streams nobody reads) from holding the
 * supervisor's memory between them. A holder that would push the total
 * past the budget is refused: a stream is closed, a backlog drops.
 */
export class UnreadBudget {
  private total = 0;

  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.total;
  }

  /** A new holder (a stream, a backlog), holding nothing yet. */
  share(): UnreadShare {
    return new UnreadShare(this, (delta) => {
      this.total += delta;
    });
  }
}

/** One holder's part of the budget; what it holds counts until it holds less, or is released. */
export class UnreadShare {
  private held = 0;

  constructor(
    private readonly budget: UnreadBudget,
    private readonly move: (delta: number) => void,
  ) {}

  get bytes(): number {
    return this.held;
  }

  /** Whether this holder may hold `bytes` in all (instead of what it holds now). */
  fits(bytes: number): boolean {
    return this.budget.usedBytes - this.held + bytes <= this.budget.maxBytes;
  }

  /** True once the total is past the budget while this holder holds something. */
  get over(): boolean {
    return this.held > 0 && this.budget.usedBytes > this.budget.maxBytes;
  }

  /** Records what the holder holds now. */
  hold(bytes: number): void {
    this.move(bytes - this.held);
    this.held = bytes;
  }

  release(): void {
    this.hold(0);
  }
}
