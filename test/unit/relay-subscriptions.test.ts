import { describe, expect, it } from 'vitest';
import { SubscriptionRegistry, subscriptionsFull } from '../../src/relay/subscriptions.js';

describe('SubscriptionRegistry', () => {
  it('tells the child once per URI, and holds each session to its limit', () => {
    const registry = new SubscriptionRegistry<string>();
    expect(registry.add('s1', 'u1', 2)).toBe('first');
    expect(registry.add('s2', 'u1', 2)).toBe('added');
    expect(registry.add('s1', 'u2', 2)).toBe('first');
    expect(registry.add('s1', 'u3', 2)).toBe('full');
    expect(registry.isSubscribed('s1', 'u3')).toBe(false);
    expect(registry.subscribers('u3').size).toBe(0);
    // Again a URI it holds: no new subscription, so no refusal.
    expect(registry.add('s1', 'u1', 2)).toBe('added');
    expect(registry.countOf('s1')).toBe(2);
    // The limit is per session.
    expect(registry.add('s2', 'u3', 2)).toBe('first');
  });

  it('makes room when a session unsubscribes, and forgets a closed session entirely', () => {
    const registry = new SubscriptionRegistry<string>();
    registry.add('s1', 'u1', 2);
    registry.add('s1', 'u2', 2);
    registry.add('s2', 'u2', 2);
    expect(registry.remove('s1', 'u1')).toBe(true);
    expect(registry.add('s1', 'u3', 2)).toBe('first');
    expect(registry.removeSession('s1').sort()).toEqual(['u3']);
    expect(registry.countOf('s1')).toBe(0);
    expect([...registry.subscribers('u2')]).toEqual(['s2']);
    expect(registry.removeSession('s2')).toEqual(['u2']);
    expect(registry.size).toBe(0);
  });

  it('refuses with QUOTA_EXCEEDED, naming the setting', () => {
    const error = subscriptionsFull('acme', 100, 'tenant://acme/x');
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.jsonRpcCode).toBe(-30429);
    expect(error.message).toMatch(/at most 100 resource URIs .*\(max_subscriptions_per_session\)/);
    expect(error.data).toEqual({ quota: 'max_subscriptions_per_session', limit: 100 });
  });
});
