import type { JsonObject, JsonRpcId } from './jsonrpc.js';

/**
 * `_meta` key a cooperating child puts on a server-to-client request to name
 * the (relayed) id of the client request that caused it. With it, routing is
 * exact; without it, the relay falls back to a documented best effort.
 */
export const RELATED_REQUEST_META_KEY = 'io.mcp-tenants/related-request-id';

/** The client capability a server-to-client request needs. */
export function capabilityFor(method: string): string | undefined {
  switch (method) {
    case 'sampling/createMessage':
      return 'sampling';
    case 'elicitation/create':
      return 'elicitation';
    case 'roots/list':
      return 'roots';
    default:
      return undefined;
  }
}

export function supports(capabilities: JsonObject | undefined, capability: string | undefined) {
  return capability === undefined || capabilities?.[capability] !== undefined;
}

/** A child's request, forwarded to one session under an id of the relay's own. */
export interface OutstandingServerRequest<Session> {
  session: Session;
  childRequestId: JsonRpcId;
  timer: NodeJS.Timeout;
}

/** Ids for server-to-client requests; unique per relay, never reused. */
export class ServerRequestIds {
  private next = 1;

  mint(): string {
    return `mcp-tenants-${this.next++}`;
  }
}

/**
 * The routing key is between the child and the relay: clients never see it
 * (it is a child-side id, shared by all of a tenant's sessions).
 */
export function withoutRoutingMeta(params: JsonObject | undefined): JsonObject | undefined {
  const meta = params?._meta;
  if (!params || typeof meta !== 'object' || meta === null || !(RELATED_REQUEST_META_KEY in meta)) {
    return params;
  }
  const { [RELATED_REQUEST_META_KEY]: _dropped, ...rest } = meta as JsonObject;
  const stripped: JsonObject = { ...params };
  if (Object.keys(rest).length > 0) stripped._meta = rest;
  else delete stripped._meta;
  return stripped;
}
