import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import {
  createStdoutWriter,
  MAX_UNREAD_STDOUT_BYTES,
} from '../../src/front/stdio/stdout-writer.js';

describe('the stdio writer', () => {
  it('pauses stdin while stdout is full, and drops only notifications past the bound', async () => {
    // Nobody reads `output`: its buffer grows as a stalled host's pipe would.
    const output = new PassThrough({ highWaterMark: 1024 });
    const input = new PassThrough();
    input.on('data', () => {});
    const write = createStdoutWriter(output, input, createLogger({ level: 'silent' }));
    const data = 'n'.repeat(64 * 1024);
    const note = { jsonrpc: '2.0' as const, method: 'notifications/message', params: { data } };
    while (output.writableLength <= MAX_UNREAD_STDOUT_BYTES) write(note);
    expect(input.isPaused()).toBe(true);
    const full = output.writableLength;
    write(note);
    expect(output.writableLength).toBe(full);
    write({ jsonrpc: '2.0', id: 's1', method: 'sampling/createMessage', params: {} });
    const afterRequest = output.writableLength;
    expect(afterRequest).toBeGreaterThan(full);
    write({ jsonrpc: '2.0', id: 7, result: {} });
    expect(output.writableLength).toBeGreaterThan(afterRequest);
    // Read again, the host gets stdin back (the writer's drain listener came first).
    const resumed = new Promise<boolean>((resolve) =>
      output.once('drain', () => resolve(input.isPaused())),
    );
    output.resume();
    expect(await resumed).toBe(false);
  });
});
