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

  it('leaves the message as it was: its JSON, its spread copies, equality, and a frozen one', () => {
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: 3, result: { content: [] } };
    const before = JSON.stringify(answer);
    noteWireBytes(answer, 50);
    noteWireBytes(answer, 60);
    expect(wireBytes(answer)).toBe(60);
    expect(JSON.stringify(answer)).toBe(before);
    // A spread copy (the relay's) takes no size of its own; only the shared result keeps it.
    expect(Object.getOwnPropertySymbols({ ...answer })).toEqual([]);
    expect(answer).toStrictEqual({ jsonrpc: '2.0', id: 3, result: { content: [] } });
    const frozen = Object.freeze({ jsonrpc: '2.0', id: 4, method: 'ping' }) as JsonRpcRequest;
    noteWireBytes(frozen, 10);
    expect(wireBytes(frozen)).toBe(Buffer.byteLength(JSON.stringify(frozen)));
  });

  it('serialises a message of unknown size, and counts 0 for one that cannot be', () => {
    const answer: JsonRpcResponse = { jsonrpc: '2.0', id: 1, result: {} };
    expect(wireBytes(answer)).toBe(Buffer.byteLength(JSON.stringify(answer)));
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    expect(wireBytes({ jsonrpc: '2.0', id: 1, result: deep })).toBe(0);
  });
});
