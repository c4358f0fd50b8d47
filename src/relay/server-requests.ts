import { RELATED_REQUEST_META_KEY } from '../core/child-meta.js';
import { JsonRpcCode } from '../core/errors.js';
import type { JsonObject, JsonRpcId } from '../core/jsonrpc.js';
import type { Caller } from '../core/pipeline.js';

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

/** What a session must show for routing: who is behind it, and what its client can do. */
interface RoutableSession {
  readonly caller: Caller;
  readonly capabilities: JsonObject | undefined;
}

/** A client request in the child, as routing sees it. */
export interface InFlightRequest<Session> {
  /** The id the child saw (the relay's own counter, so newer is larger). */
  childId: number;
  session: Session;
  clientId: JsonRpcId;
}

export type ServerRequestRoute<Session> =
  | { session: Session; relatedClientId: JsonRpcId | undefined }
  | { refused: { code: number; message: string } };

/** What every refusal tells the child to do, so that the next request routes exactly. */
const NAME_THE_REQUEST =
  `name the request it works for: set params._meta["${RELATED_REQUEST_META_KEY}"] to the id of ` +
  "that request as the server received it (with the MCP SDK: the handler's extra.requestId; " +
  'the relatedRequestId option alone does not reach the supervisor over stdio)';

/**
 * Where a server-to-client request the child did not attribute may go:
 * only to the one session with a request in flight whose client declared
 * the capability. With several, any pick could hand one user's sampling,
 * elicitation or roots request to another user; with none, nobody asked.
 * Either way the child is refused at once and told to name the request.
 */
export function routeUnattributed<Session extends RoutableSession>(
  method: string,
  capability: string | undefined,
  inFlight: Iterable<InFlightRequest<Session>>,
): ServerRequestRoute<Session> {
  const newest = new Map<Session, InFlightRequest<Session>>();
  for (const entry of inFlight) {
    if (!supports(entry.session.capabilities, capability)) continue;
    const known = newest.get(entry.session);
    if (!known || entry.childId > known.childId) newest.set(entry.session, entry);
  }
  const [only, ...others] = newest.values();
  if (only && others.length === 0) {
    return { session: only.session, relatedClientId: only.clientId };
  }
  const clients = capability ? ` from a client that supports ${capability}` : '';
  if (!only) {
    return {
      refused: {
        code: JsonRpcCode.METHOD_NOT_FOUND,
        message: `cannot route ${method}: no session of this tenant has a request in flight${clients}; ${NAME_THE_REQUEST}`,
      },
    };
  }
  const users = new Set([...newest.keys()].map((session) => session.caller.userId)).size;
  return {
    refused: {
      code: JsonRpcCode.INVALID_PARAMS,
      message:
        `cannot route ${method}: ${newest.size} sessions (of ${users} user${users === 1 ? '' : 's'}) ` +
        `have requests in flight${clients}, and it does not say which one it works for; ${NAME_THE_REQUEST}`,
    },
  };
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
  return withoutMeta(params, RELATED_REQUEST_META_KEY).params;
}

/** `params` without one `_meta` key (and without an emptied `_meta`), and that key's value. */
export function withoutMeta(
  params: JsonObject | undefined,
  key: string,
): { params: JsonObject | undefined; value: unknown } {
  const meta = params?._meta;
  if (!params || typeof meta !== 'object' || meta === null || !(key in meta)) {
    return { params, value: undefined };
  }
  const { [key]: value, ...rest } = meta as JsonObject;
  const stripped: JsonObject = { ...params };
  if (Object.keys(rest).length > 0) stripped._meta = rest;
  else delete stripped._meta;
  return { params: stripped, value };
}
