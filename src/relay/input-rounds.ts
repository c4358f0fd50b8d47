import { randomUUID } from 'node:crypto';
import { INPUT_KEY_META_KEY } from '../core/child-meta.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { JsonObject, JsonRpcRequest, JsonRpcResponse } from '../core/jsonrpc.js';
import { type InputRequest, MAX_INPUT_REQUESTS } from './input-required.js';
import { capabilityFor, withoutMeta } from './server-requests.js';
import type { StatelessRequestSession } from './stateless.js';

/** Quiet time that closes a round of the child's requests, and the longest a round gathers. */
const BATCH_QUIET_MS = 25;
const BATCH_MAX_MS = 100;

/** What the relay does for the rounds: answer the child's requests, and cancel a call. */
export interface RoundsRelay {
  respond(session: StatelessRequestSession, response: JsonRpcResponse): void;
  detach(session: StatelessRequestSession): void;
}

/** What a round ends in: the child's answer, or the requests it sent meanwhile. */
export type RoundOutcome =
  | { kind: 'final'; response: JsonRpcResponse }
  | { kind: 'ask'; round: number; parked: string; requests: Map<string, InputRequest> };

/**
 * A call of a stateless client to a 2025 child, from its start: once the
 * child asks for input it is parked while the client answers — the child's
 * call stays pending in the child, and each round's requests (those the
 * child sends together) go out in one `input_required` result.
 */
class RoundCall {
  /** Named when the call is first parked (most calls never are). */
  id = '';
  /** Requests of the current round not answered yet, by key, with the id the child's request has. */
  readonly asked = new Map<string, { id: string; input: InputRequest }>();
  round = 0;
  /** A retry is answering this round now; a second one at once is refused. */
  busy = false;
  expiry: NodeJS.Timeout | undefined;
  private incoming: JsonRpcRequest[] = [];
  private batching = false;
  private batchStart = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private final: JsonRpcResponse | undefined;
  private waiter: ((outcome: CallOutcome) => void) | undefined;

  constructor(
    readonly session: StatelessRequestSession,
    answer: Promise<JsonRpcResponse>,
  ) {
    session.onRequest = (request) => this.arrive(request);
    // An answer that comes while no retry waits (the child timed out, or
    // went on by itself) is kept for the next retry, until the call expires.
    void answer.then((response) => {
      this.final = response;
      this.settle();
    });
  }

  /** Stops gathering a round: the call is over. */
  stop(): void {
    clearTimeout(this.batchTimer);
    this.batching = false;
  }

  /** The child's answer, or its next requests, whichever comes first. */
  next(): Promise<CallOutcome> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.settle();
    });
  }

  /** False refuses the request to the child at once: a method no client answers, or too many. */
  private arrive(request: JsonRpcRequest): boolean {
    if (capabilityFor(request.method) === undefined) return false;
    if (this.incoming.length >= MAX_INPUT_REQUESTS) return false;
    this.incoming.push(request);
    // Requests the child sends together make one round. They reach us in
    // separate reads of its stdout, so the round closes once BATCH_QUIET_MS
    // pass without another (or BATCH_MAX_MS after the first).
    const now = performance.now();
    if (!this.batching) this.batchStart = now;
    this.batching = true;
    clearTimeout(this.batchTimer);
    const wait = Math.min(BATCH_QUIET_MS, BATCH_MAX_MS - (now - this.batchStart));
    this.batchTimer = setTimeout(
      () => {
        this.batching = false;
        this.settle();
      },
      Math.max(0, wait),
    );
    this.batchTimer.unref();
    return true;
  }

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.final) {
      this.waiter = undefined;
      waiter({ kind: 'final', response: this.final });
    } else if (this.incoming.length > 0 && !this.batching) {
      this.waiter = undefined;
      waiter({ kind: 'ask', requests: this.incoming.splice(0) });
    }
  }
}

type CallOutcome =
  | { kind: 'final'; response: JsonRpcResponse }
  | { kind: 'ask'; requests: JsonRpcRequest[] };

export interface InputRoundsOptions {
  relay: RoundsRelay;
  /** How long a parked call waits for the client's retry (`request_timeout_ms`). */
  ttlMs: () => number;
  /** Calls parked at once for this tenant; past it a call's requests are refused. */
  maxParked: number;
}

/**
 * The multi round-trip bridge for a stateless client in front of a 2025
 * child (2026 client, 2025 child): a server-to-client request that the
 * child sends during the client's request becomes an `input_required`
 * round, and the client's retry answers it in the child. A parked call that
 * nobody comes back for is cancelled in the child when its time is up.
 */
export class InputRounds {
  private readonly parked = new Map<string, RoundCall>();
  /** Every call from its start, parked or not, by its session. */
  private readonly calls = new Map<StatelessRequestSession, RoundCall>();

  constructor(private readonly options: InputRoundsOptions) {}

  /** Calls going on: running toward their first round, or parked. */
  get size(): number {
    return this.calls.size;
  }

  /** Runs a call until the child answers it, or asks for input (the call is parked then). */
  async start(
    session: StatelessRequestSession,
    answer: Promise<JsonRpcResponse>,
  ): Promise<RoundOutcome> {
    const call = new RoundCall(session, answer);
    this.calls.set(session, call);
    return this.advance(call);
  }

  /**
   * A retry of round `round` of parked call `id` with the client's
   * `inputResponses`: answers the child's requests it has, then returns the
   * child's answer, or the next round (the unanswered requests again, or new ones).
   */
  async resume(
    id: string,
    round: number,
    inputResponses: JsonObject,
    sink: StatelessRequestSession['sink'],
  ): Promise<RoundOutcome> {
    const call = this.parked.get(id);
    if (!call || call.round !== round || call.busy) {
      throw new McpTenantsError(
        ErrorCode.REQUEST_STATE_INVALID,
        'requestState is spent (that round was answered), or its call has ended; send the request again without it',
      );
    }
    call.session.sink = sink;
    // Taken by this retry: its round no longer expires while the child works.
    clearTimeout(call.expiry);
    for (const [key, response] of Object.entries(inputResponses)) {
      const asked = call.asked.get(key);
      if (!asked) continue; // extra keys are ignored, as MRTR asks
      call.asked.delete(key);
      this.options.relay.respond(call.session, {
        jsonrpc: '2.0',
        id: asked.id,
        result: response as JsonObject,
      });
    }
    if (call.asked.size > 0) {
      // Some answers are missing: the same requests are asked again.
      call.round += 1;
      this.keep(call);
      return { kind: 'ask', round: call.round, parked: call.id, requests: inputsOf(call) };
    }
    call.busy = true;
    try {
      return await this.advance(call);
    } finally {
      call.busy = false;
    }
  }

  /** The client's stream of a waiting call closed: the call is cancelled in the child. */
  abandon(session: StatelessRequestSession): void {
    const call = this.calls.get(session);
    if (call) this.drop(call);
  }

  /** The stream of a retry closed while it waited: the parked call is cancelled too. */
  abandonParked(id: string): void {
    const call = this.parked.get(id);
    if (call) this.drop(call);
  }

  close(): void {
    for (const call of [...this.calls.values()]) this.drop(call);
  }

  private async advance(call: RoundCall): Promise<RoundOutcome> {
    const outcome = await call.next();
    if (outcome.kind === 'final') {
      this.drop(call);
      return outcome;
    }
    if (!call.id && this.parked.size >= this.options.maxParked) {
      this.drop(call);
      const seconds = Math.max(1, Math.ceil(this.options.ttlMs() / 1000));
      throw new McpTenantsError(
        ErrorCode.QUOTA_EXCEEDED,
        `${this.options.maxParked} calls of this tenant already wait for their clients' input; retry in ${seconds} s`,
        {
          data: {
            quota: 'parked_calls',
            limit: this.options.maxParked,
            retry_after_seconds: seconds,
          },
        },
      );
    }
    call.round += 1;
    call.asked.clear();
    for (const request of outcome.requests) {
      const { key, params } = takeInputKey(request.params);
      // A key the child named, unless two requests of the round name the
      // same; named keys never look like the supervisor's own ids.
      const chosen =
        key !== undefined && !call.asked.has(key) && !key.startsWith('mcp-tenants-')
          ? key
          : String(request.id);
      call.asked.set(chosen, { id: String(request.id), input: { method: request.method, params } });
    }
    this.keep(call);
    return { kind: 'ask', round: call.round, parked: call.id, requests: inputsOf(call) };
  }

  /** Parks (or keeps parked) a call until its client's next retry is due. */
  private keep(call: RoundCall): void {
    call.id ||= randomUUID();
    this.parked.set(call.id, call);
    clearTimeout(call.expiry);
    call.expiry = setTimeout(() => this.drop(call), this.options.ttlMs());
    call.expiry.unref();
  }

  /** Forgets a call; one the child is still working on is cancelled there. */
  private drop(call: RoundCall): void {
    clearTimeout(call.expiry);
    call.stop();
    this.parked.delete(call.id);
    this.calls.delete(call.session);
    call.session.onRequest = undefined;
    this.options.relay.detach(call.session);
  }
}

function inputsOf(call: RoundCall): Map<string, InputRequest> {
  return new Map([...call.asked].map(([key, asked]) => [key, asked.input]));
}

/** The input key a cooperating child named (a short string), and the params without it. */
function takeInputKey(params: JsonObject | undefined): {
  key: string | undefined;
  params: JsonObject | undefined;
} {
  const { params: stripped, value } = withoutMeta(params, INPUT_KEY_META_KEY);
  const key = typeof value === 'string' && /^[\w.-]{1,64}$/.test(value) ? value : undefined;
  return { key, params: stripped };
}
