import { describe, expect, it } from 'vitest';
import { classifyMessage } from '../../src/core/jsonrpc.js';

describe('classifyMessage', () => {
  it.each([
    [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, 'request'],
    [{ jsonrpc: '2.0', id: 'a', method: 'x', params: {} }, 'request'],
    [{ jsonrpc: '2.0', method: 'notifications/initialized' }, 'notification'],
    [{ jsonrpc: '2.0', id: 1, result: {} }, 'response'],
    [{ jsonrpc: '2.0', id: null, error: { code: -1, message: 'm' } }, 'response'],
  ])('accepts %j as a %s', (message, kind) => {
    expect(classifyMessage(message)).toBe(kind);
  });

  it.each([
    [null, 'must be a JSON object'],
    [[1], 'must be a JSON object'],
    [{ id: 1, method: 'x' }, 'jsonrpc must be "2.0"'],
    [{ jsonrpc: '1.0', id: 1, method: 'x' }, 'jsonrpc must be "2.0"'],
    [{ jsonrpc: '2.0', id: 1, method: 7 }, 'method must be a non-empty string'],
    [{ jsonrpc: '2.0', id: 1, method: 'm'.repeat(257) }, 'method must be at most 256 characters'],
    [{ jsonrpc: '2.0', id: 1.5, method: 'x' }, 'id must be a string or an integer'],
    [{ jsonrpc: '2.0', id: {}, method: 'x' }, 'id must be a string or an integer'],
    [{ jsonrpc: '2.0', id: 1, method: 'x', params: [1] }, 'params must be an object'],
    [{ jsonrpc: '2.0', id: null, result: {} }, 'id must be a string or an integer'],
    [{ jsonrpc: '2.0', id: 1 }, 'needs a method, a result or an error'],
    [{ jsonrpc: '2.0', id: 1, error: { code: '7', message: 'm' } }, 'an integer code and a string'],
    [{ jsonrpc: '2.0', id: 1, error: { code: 1, message: {} } }, 'an integer code and a string'],
  ])('refuses %j', (message, reason) => {
    const kind = classifyMessage(message);
    expect(kind).toEqual({ invalid: expect.stringContaining(reason) });
  });
});
