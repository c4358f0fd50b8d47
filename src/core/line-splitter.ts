/**
 * Splits a byte stream into newline-delimited lines (the MCP stdio framing),
 * with a bound on line length so a peer printing one endless line cannot
 * exhaust the supervisor's memory. An oversized line is reported once and
 * skipped up to its newline; the lines after it are read normally.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private skipping = false;

  constructor(
    private readonly maxLineBytes: number,
    /** `bytes`: the line's length on the wire, for telemetry. */
    private readonly onLine: (line: string, bytes: number) => void,
    private readonly onOverflow: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start <= chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline === -1 ? chunk.length : newline;
      const piece = chunk.subarray(start, end);
      if (this.skipping) {
        if (newline !== -1) this.skipping = false;
      } else if (this.pendingBytes + piece.length > this.maxLineBytes) {
        this.onOverflow(this.pendingBytes + piece.length);
        this.pending = [];
        this.pendingBytes = 0;
        this.skipping = newline === -1;
      } else if (newline === -1) {
        if (piece.length > 0) {
          this.pending.push(piece);
          this.pendingBytes += piece.length;
        }
      } else {
        this.emit(piece);
      }
      if (newline === -1) return;
      start = newline + 1;
    }
  }

  private emit(piece: Buffer): void {
    const bytes = this.pendingBytes + piece.length;
    let line: string;
    if (this.pendingBytes === 0) {
      line = piece.toString('utf8');
    } else {
      this.pending.push(piece);
      line = Buffer.concat(this.pending, bytes).toString('utf8');
      this.pending = [];
      this.pendingBytes = 0;
    }
    // Tolerate CRLF framing and blank keep-alive lines.
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() !== '') this.onLine(text, bytes);
  }
}
