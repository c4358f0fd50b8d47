import type { ChildChannel } from '../core/child-handle.js';
import type { JsonRpcId, JsonRpcResponse } from '../core/jsonrpc.js';
import type { Cancellation, RelaySession } from '../core/pipeline.js';
import type { InFlightRequest } from './server-requests.js';

/** One request in the child, under the relay's own id. */
export interface PendingRequest {
  /** Null for the supervisor's own requests (subscriptions, log level). */
  readonly session: RelaySession | null;
  /** The id the client gave it, restored on the answer. */
  readonly clientId: JsonRpcId;
  /** The client's progress token, restored on progress notifications. */
  readonly progressToken: string | number | undefined;
  /** The child it was sent to: only that child's exit fails it. */
  readonly channel: ChildChannel;
  readonly timer: NodeJS.Timeout | undefined;
  readonly resolve: (response: JsonRpcResponse) => void;
}

/**
 * The requests of one tenant's sessions: those in the child, under ids of
 * the relay's own (a counter, so sessions that reuse ids never see each
 * other's answers), and those still on their way (in the stages or waiting
 * for a start), so that a cancellation can reach them.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly inChild = new Map<number, PendingRequest>();
  /** Per attached session: its own request id → the id the child saw. */
  private readonly bySession = new Map<RelaySession, Map<JsonRpcId, number>>();
  /** Per attached session: requests not yet in the child. */
  private readonly onTheWay = new Map<RelaySession, Map<JsonRpcId, Cancellation>>();

  /** Listen streams the child keeps open (no timeout); not requests that quiet waits for. */
  private streams = 0;

  /**
   * Requests in the child, the supervisor's own included, but not its open
   * listen streams: a child holding only those is quiet (it may restart or idle out).
   */
  get size(): number {
    return this.inChild.size - this.streams;
  }

  get sessionCount(): number {
    return this.bySession.size;
  }

  sessions(): IterableIterator<RelaySession> {
    return this.bySession.keys();
  }

  attach(session: RelaySession): void {
    if (!this.bySession.has(session)) this.bySession.set(session, new Map());
    if (!this.onTheWay.has(session)) this.onTheWay.set(session, new Map());
  }

  isAttached(session: RelaySession): boolean {
    return this.bySession.has(session);
  }

  /**
   * Forgets a session: its requests on the way are cancelled, and those in
   * the child answered with `answer`. Returns the child ids of the latter,
   * so the child can be told; undefined when the session was not attached.
   */
  detach(session: RelaySession, answer: (clientId: JsonRpcId) => JsonRpcResponse) {
    const own = this.bySession.get(session);
    if (!own) return undefined;
    this.bySession.delete(session);
    for (const cancellation of this.onTheWay.get(session)?.values() ?? []) cancellation.cancel();
    this.onTheWay.delete(session);
    const settled: { childId: number; channel: ChildChannel }[] = [];
    for (const childId of own.values()) {
      const entry = this.inChild.get(childId);
      if (!entry) continue;
      this.settle(childId, answer(entry.clientId));
      settled.push({ childId, channel: entry.channel });
    }
    return settled;
  }

  /** Notes a request on its way to the child; the result forgets it again. */
  onItsWay(session: RelaySession, clientId: JsonRpcId, cancellation: Cancellation): () => void {
    const waiting = this.onTheWay.get(session);
    waiting?.set(clientId, cancellation);
    return () => {
      if (waiting?.get(clientId) === cancellation) waiting.delete(clientId);
    };
  }

  /** The cancellation of a request still on its way. */
  cancellationOf(session: RelaySession, clientId: JsonRpcId): Cancellation | undefined {
    return this.onTheWay.get(session)?.get(clientId);
  }

  /** The id the child knows a session's request by, while it is in the child. */
  childIdOf(session: RelaySession, clientId: JsonRpcId): number | undefined {
    return this.bySession.get(session)?.get(clientId);
  }

  /** A fresh id of the relay's own, for the next request into the child. */
  nextChildId(): number {
    return this.nextId++;
  }

  /**
   * Records a request sent to the child as `childId`; `timeOut` runs if no
   * answer came within `timeoutMs` (never, when undefined: a listen stream).
   * The promise resolves on `settle`.
   */
  add(
    childId: number,
    request: Omit<PendingRequest, 'timer' | 'resolve'>,
    timeoutMs: number | undefined,
    timeOut: (childId: number) => void,
  ): Promise<JsonRpcResponse> {
    return new Promise<JsonRpcResponse>((resolve) => {
      const timer =
        timeoutMs === undefined ? undefined : setTimeout(() => timeOut(childId), timeoutMs);
      timer?.unref();
      if (timer === undefined) this.streams += 1;
      this.inChild.set(childId, { ...request, timer, resolve });
      if (request.session) this.bySession.get(request.session)?.set(request.clientId, childId);
    });
  }

  get(childId: unknown): PendingRequest | undefined {
    return typeof childId === 'number' ? this.inChild.get(childId) : undefined;
  }

  /** Answers the request `childId` (once); false when it was not pending. */
  settle(childId: number, response: JsonRpcResponse): boolean {
    const entry = this.inChild.get(childId);
    if (!entry) return false;
    clearTimeout(entry.timer);
    if (entry.timer === undefined) this.streams -= 1;
    this.inChild.delete(childId);
    if (entry.session) this.bySession.get(entry.session)?.delete(entry.clientId);
    entry.resolve(response);
    return true;
  }

  /** Answers every request in the child, or only those sent to `channel`. */
  settleAll(answer: (entry: PendingRequest) => JsonRpcResponse, channel?: ChildChannel): void {
    for (const [childId, entry] of this.inChild) {
      if (channel === undefined || entry.channel === channel) this.settle(childId, answer(entry));
    }
  }

  /** Every client request in the child (not the supervisor's own). */
  *clientRequests(): Generator<InFlightRequest<RelaySession>> {
    for (const [childId, entry] of this.inChild) {
      if (entry.session) yield { childId, session: entry.session, clientId: entry.clientId };
    }
  }
}
