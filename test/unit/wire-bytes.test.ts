import { describe, expect, it } from 'vitest';
import type { JsonRpcRequest, JsonRpcResponse } from '../../src/core/jsonrpc.js';
import { noteWireBytes, wireBytes } from '../../src/core/wire-bytes.js';

describe('sizes of messages as they entered', () => {
  it('gives the size noted at entry, also to the copy the relay makes of an answer', () => {
    const request: JsonRpcRequest = { jsonrpc: '2.0', id: 1, method: 'ping' };
    noteWireBytes(request, 1234);
    expect(wireBytes(request)).toBe(1234);
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: 7, result: { content: [] } };
    noteWireBytes(answer, 99);
    // The client's id restored in a copy: the result, and so the size, is the same.
    expect(wireBytes({ ...answer, id: 'client-id' })).toBe(99);
  });

  it('serialises a message of unknown size, and counts 0 for one that cannot be', () => {
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: 1, result: {} };
    expect(wireBytes(answer)).toBe(Buffer.byteLength(JSON.stringify(answer)));
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    expect(wireBytes({ jsonrpc: '2.0', id: 1, result: deep })).toBe(0);
  });
});
