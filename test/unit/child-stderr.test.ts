import { describe, expect, it } from 'vitest';
import { childLogLine } from '../../src/process/child-stderr.js';

describe("a child's stderr line as a supervisor log line", () => {
  it('keeps the level, message and fields of a structured line, flat', () => {
    const line = JSON.stringify({
      time: '2026-01-01T00:00:00.000Z',
      level: 'warn',
      msg: 'tool module loaded',
      module: '/srv/tools.mjs',
      tools: 2,
      ok: true,
      nested: { dropped: 'objects are not log fields' },
    });
    expect(childLogLine(line)).toEqual({
      level: 'warn',
      message: 'tool module loaded',
      fields: { module: '/srv/tools.mjs', tools: 2, ok: true },
    });
  });

  it('never lets a child set the tenant, stream, time or level fields', () => {
    const line = JSON.stringify({ level: 'fatal', msg: 'hi', tenant: 'globex', stream: 'x' });
    expect(childLogLine(line)).toEqual({ level: 'info', message: 'hi', fields: {} });
  });

  it('passes anything else through as text at info', () => {
    for (const line of ['plain text', '{not json', '[1,2]', '{"no":"message"}', '{"msg":3}']) {
      expect(childLogLine(line)).toEqual({ level: 'info', message: line, fields: {} });
    }
  });

  it('bounds what one line adds: 20 fields, 1000 characters a value', () => {
    const record: Record<string, unknown> = { msg: 'x'.repeat(5000) };
    for (let i = 0; i < 50; i++) record[`f${i}`] = 'y'.repeat(2000);
    const { message, fields } = childLogLine(JSON.stringify(record));
    expect(message).toHaveLength(1000);
    expect(Object.keys(fields)).toHaveLength(20);
    for (const value of Object.values(fields)) expect(value).toHaveLength(1000);
  });
});
