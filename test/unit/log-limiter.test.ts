import { describe, expect, it } from 'vitest';
import { LogLimiter } from '../../src/core/log-limiter.js';
import { createLogger } from '../../src/core/logger.js';

describe('LogLimiter', () => {
  it('logs a burst per interval, then says how many lines it left out', () => {
    const lines: Record<string, unknown>[] = [];
    let now = 0;
    const log = createLogger({ json: true, write: (line) => lines.push(JSON.parse(line)) });
    const limiter = new LogLimiter(log, { burst: 3, intervalMs: 1_000, now: () => now });
    for (let i = 0; i < 1_000; i += 1) limiter.warn('garbage', { n: i });
    expect(lines.map((line) => line.n)).toEqual([0, 1, 2]);
    now = 1_000;
    limiter.warn('garbage', { n: 1_000 });
    expect(lines.at(-1)).toMatchObject({ n: 1_000, not_logged_before: 997 });
    for (let i = 0; i < 5; i += 1) limiter.warn('garbage');
    limiter.flush('output dropped without a log line');
    expect(lines.at(-1)).toMatchObject({ msg: 'output dropped without a log line', not_logged: 3 });
    limiter.flush('nothing more');
    expect(lines).toHaveLength(7);
  });
});
