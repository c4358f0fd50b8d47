import type { RowProgress } from '../telemetry/row-progress.js';

interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressLineOptions {
  stream?: ProgressStream;
  /** Work that ends sooner shows nothing. */
  quietMs?: number;
  now?: () => number;
}

/**
 * A status line on stderr for long reads (`report`, `audit verify` over a
 * large database): rewritten in place on a terminal, a plain line every few
 * seconds otherwise (logs, CI). stdout stays the result alone.
 */
export class ProgressLine {
  private readonly stream: ProgressStream;
  private readonly quietMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastShownAt = Number.NEGATIVE_INFINITY;
  private shown = false;

  constructor(options: ProgressLineOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.quietMs = options.quietMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  readonly update: RowProgress = (phase, rows) => {
    const now = this.now();
    if (now - this.startedAt < this.quietMs) return;
    const terminal = this.stream.isTTY === true;
    if (now - this.lastShownAt < (terminal ? 200 : 5000)) return;
    this.lastShownAt = now;
    this.shown = true;
    const text = `${phase}: ${rows.toLocaleString('en-US')} rows read`;
    this.stream.write(terminal ? `\r\x1b[2K${text}` : `${text}\n`);
  };

  /** Clears the line on a terminal so the result starts on a clean one. */
  done(): void {
    if (this.shown && this.stream.isTTY === true) this.stream.write('\r\x1b[2K');
  }
}
