import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/core/line-splitter.js';

function split(chunks: string[], max = 1024): { lines: string[]; overflows: number[] } {
  const lines: string[] = [];
  const overflows: number[] = [];
  const splitter = new LineSplitter(
    max,
    (line) => lines.push(line),
    (bytes) => overflows.push(bytes),
  );
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  return { lines, overflows };
}

describe('LineSplitter', () => {
  it('joins lines split across chunks and splits chunks holding several lines', () => {
    expect(split(['{"a":', '1}\n{"b":2}\n{"c"', ':3}\n']).lines).toEqual([
      '{"a":1}',
      '{"b":2}',
      '{"c":3}',
    ]);
  });

  it('drops blank lines and a trailing CR', () => {
    expect(split(['one\r\n\n  \ntwo\n']).lines).toEqual(['one', 'two']);
  });

  it('keeps an unterminated tail until its newline arrives', () => {
    expect(split(['partial']).lines).toEqual([]);
    expect(split(['partial', '\n']).lines).toEqual(['partial']);
  });

  it('reports an oversized line once, skips it, and reads the next lines', () => {
    const result = split(['x'.repeat(600), 'x'.repeat(600), 'y'.repeat(600), '\nok\n'], 1000);
    expect(result.overflows).toHaveLength(1);
    expect(result.lines).toEqual(['ok']);
  });

  it('reports an oversized line that arrives whole in one chunk', () => {
    const result = split([`${'z'.repeat(2000)}\nafter\n`], 1000);
    expect(result.overflows).toEqual([2000]);
    expect(result.lines).toEqual(['after']);
  });

  it('keeps multi-byte characters split across chunks intact', () => {
    const bytes = Buffer.from('"héllo wörld"\n');
    const lines: string[] = [];
    const splitter = new LineSplitter(
      100,
      (line) => lines.push(line),
      () => {},
    );
    splitter.push(bytes.subarray(0, 3));
    splitter.push(bytes.subarray(3));
    expect(lines).toEqual(['"héllo wörld"']);
  });
});
