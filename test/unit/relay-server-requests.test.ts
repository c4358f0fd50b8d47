import { describe, expect, it } from 'vitest';
import { type InFlightRequest, routeUnattributed } from '../../src/relay/server-requests.js';

interface Session {
  id: string;
  caller: { userId: string; permissions: string[]; isAdmin: boolean };
  capabilities: Record<string, unknown> | undefined;
}

const session = (
  id: string,
  userId: string,
  capabilities: Record<string, unknown> = { sampling: {} },
): Session => ({
  id,
  caller: { userId, permissions: [], isAdmin: false },
  capabilities,
});

const inFlight = (childId: number, of: Session, clientId: number | string = childId) =>
  ({ childId, session: of, clientId }) satisfies InFlightRequest<Session>;

describe('routeUnattributed', () => {
  const alice = session('a', 'alice');
  const bob = session('b', 'bob');
  const mute = session('m', 'mallory', {});

  it('delivers to the one session with requests in flight, on its newest request', () => {
    const route = routeUnattributed('sampling/createMessage', 'sampling', [
      inFlight(3, bob, 'x'),
      inFlight(7, bob, 'y'),
      inFlight(9, mute),
    ]);
    expect(route).toEqual({ session: bob, relatedClientId: 'y' });
  });

  it('refuses when sessions of two users could be meant, however new either request is', () => {
    const route = routeUnattributed('sampling/createMessage', 'sampling', [
      inFlight(1, bob),
      inFlight(2, alice),
    ]);
    expect(route).toEqual({
      refused: {
        code: -32602,
        message: expect.stringMatching(
          /^cannot route sampling\/createMessage: 2 sessions \(of 2 users\) have requests in flight from a client that supports sampling, and it does not say which one it works for; name the request it works for: set params\._meta\["io\.mcp-tenants\/related-request-id"\]/,
        ),
      },
    });
  });

  it('refuses between two sessions of the same user too', () => {
    const route = routeUnattributed('elicitation/create', 'elicitation', [
      inFlight(1, session('b', 'bob', { elicitation: {} })),
      inFlight(2, session('b2', 'bob', { elicitation: {} })),
    ]);
    expect('refused' in route && route.refused.message).toMatch(/2 sessions \(of 1 user\)/);
  });

  it('refuses when no session in flight declared the capability, or none is in flight', () => {
    for (const requests of [[], [inFlight(4, mute)]]) {
      const route = routeUnattributed('sampling/createMessage', 'sampling', requests);
      expect(route).toEqual({
        refused: {
          code: -32601,
          message: expect.stringMatching(
            /^cannot route sampling\/createMessage: no session of this tenant has a request in flight from a client that supports sampling; name the request/,
          ),
        },
      });
    }
  });
});
