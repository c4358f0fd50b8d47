import { describe, expect, it } from 'vitest';
import { RequestStateSeal, requestDigest } from '../../src/relay/request-state.js';

const binding = { tenant: 'acme', user: 'alice', method: 'tools/call', target: 'd', grants: 'g' };

describe('the sealed requestState', () => {
  it('opens only for its own binding, and a child state only once', async () => {
    const seal = new RequestStateSeal();
    const child = 'the-child-state-is-not-for-clients';
    const state = await seal.seal(binding, { child }, 60_000);
    // Encrypted: neither the text nor its base64url encoding shows.
    expect(state).not.toContain(child);
    expect(state).not.toContain(Buffer.from(child).toString('base64url').slice(0, 20));
    for (const other of [
      { user: 'bob' },
      { tenant: 'globex' },
      { method: 'prompts/get' },
      { target: 'e' },
    ]) {
      await expect(seal.open(state, { ...binding, ...other })).rejects.toMatchObject({
        code: 'REQUEST_STATE_INVALID',
      });
    }
    await expect(seal.open(state, binding)).resolves.toMatchObject({ child });
    await expect(seal.open(state, binding)).rejects.toThrow(/already answered/);
    await expect(new RequestStateSeal().open(state, binding)).rejects.toThrow(/integrity/);
  });

  it('refuses a child state too large to come back', async () => {
    const seal = new RequestStateSeal();
    // Control characters grow sixfold in JSON, then by a third in base64url.
    await expect(seal.seal(binding, { child: '\u0001'.repeat(20_000) }, 60_000)).rejects.toThrow(
      /too large to relay/,
    );
  });

  it('expires', async () => {
    const seal = new RequestStateSeal();
    const state = await seal.seal(binding, { parked: 'p', round: 1 }, -5_000);
    await expect(seal.open(state, binding)).rejects.toThrow(/expired/);
  });

  it('binds name and uri both, and the arguments', () => {
    const digest = (params: Record<string, unknown>) =>
      requestDigest({ jsonrpc: '2.0', id: 1, method: 'resources/read', params });
    const base = digest({ uri: 'file:///public', name: 'x' });
    expect(digest({ uri: 'file:///secret', name: 'x' })).not.toBe(base);
    expect(digest({ uri: 'file:///public', name: 'y' })).not.toBe(base);
    expect(digest({ uri: 'file:///public', name: 'x', arguments: { a: 1 } })).not.toBe(base);
    expect(
      digest({ uri: 'file:///public', name: 'x', inputResponses: {}, requestState: 's' }),
    ).toBe(base);
  });
});
