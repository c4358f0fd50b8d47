import { describe, expect, it } from 'vitest';
import type { JsonRpcMessage } from '../../src/core/jsonrpc.js';
import { Backlog } from '../../src/front/http/backlog.js';
import { UnreadBudget } from '../../src/front/http/unread-budget.js';

const note = (data: string): JsonRpcMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { level: 'info', data },
});
const size = (message: JsonRpcMessage) => Buffer.byteLength(JSON.stringify(message));

describe('UnreadBudget', () => {
  it('sums what every holder holds, and takes it back on release', () => {
    const budget = new UnreadBudget(100);
    const one = budget.share();
    const two = budget.share();
    one.hold(60);
    expect(two.fits(40)).toBe(true);
    expect(two.fits(41)).toBe(false);
    // What a holder holds now is replaced, not added to.
    expect(one.fits(100)).toBe(true);
    two.hold(50);
    expect(budget.usedBytes).toBe(110);
    expect(two.over).toBe(true);
    one.release();
    expect(budget.usedBytes).toBe(50);
    expect(two.over).toBe(false);
  });
});

describe('Backlog', () => {
  it('counts its messages in the budget and refuses what does not fit', () => {
    const message = note('x'.repeat(100));
    const budget = new UnreadBudget(size(message) * 2);
    const other = budget.share();
    const backlog = new Backlog(budget);
    expect(backlog.push(message)).toBe(true);
    expect(backlog.push(message)).toBe(true);
    expect(budget.usedBytes).toBe(size(message) * 2);
    // Full: the oldest makes room for the newest.
    expect(backlog.push(note('y'.repeat(100)))).toBe(true);
    expect(budget.usedBytes).toBe(size(message) * 2);
    // Another holder takes the budget: nothing of this backlog fits any more.
    backlog.clear();
    other.hold(size(message) * 2);
    expect(backlog.push(message)).toBe(false);
    other.release();
    expect(backlog.push(message)).toBe(true);
    expect(backlog.take()).toEqual([message]);
    expect(budget.usedBytes).toBe(0);
  });

  it('keeps at most 256 messages, the newest', () => {
    const backlog = new Backlog(new UnreadBudget(64 * 1024 * 1024));
    for (let n = 0; n < 300; n += 1) backlog.push(note(String(n)));
    const kept = backlog.take();
    expect(kept).toHaveLength(256);
    expect(kept[0]).toEqual(note('44'));
  });
});
