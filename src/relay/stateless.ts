import type { JsonObject, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from '../core/jsonrpc.js';
import { metaOf } from '../core/jsonrpc.js';
import type { Caller, RelaySession } from '../core/pipeline.js';
import { META, STATELESS_PROTOCOL_VERSIONS } from '../core/revisions.js';
import { isLogLevel, type McpLogLevel } from './log-levels.js';

/** Methods whose results are cacheable (`ttlMs`, `cacheScope` required). */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
]);

/** The `server/discover` answer, built from the child's one `initialize`. */
export function discoverResult(initializeResult: JsonObject, sessionVersions: readonly string[]) {
  const result: JsonObject = {
    resultType: 'complete',
    supportedVersions: [...STATELESS_PROTOCOL_VERSIONS, ...sessionVersions],
    capabilities: initializeResult.capabilities ?? {},
    ttlMs: 0,
    cacheScope: 'private',
    _meta: { [META.serverInfo]: initializeResult.serverInfo },
  };
  if (typeof initializeResult.instructions === 'string') {
    result.instructions = initializeResult.instructions;
  }
  return result;
}

/**
 * Fills in what a 2026-07-28 client requires of a result that a child of an
 * earlier revision does not send. A tenant's lists are never shareable
 * between callers, so they are `private`, and not cached (`ttlMs: 0`).
 */
export function completeStatelessResult(
  method: string,
  result: JsonObject,
  serverInfo: unknown,
): JsonObject {
  const meta = typeof result._meta === 'object' && result._meta !== null ? result._meta : {};
  const complete: JsonObject = {
    ...result,
    resultType: result.resultType ?? 'complete',
    _meta: { ...meta, [META.serverInfo]: serverInfo },
  };
  if (CACHEABLE.has(method) && complete.resultType === 'complete') {
    if (!Number.isInteger(complete.ttlMs)) complete.ttlMs = 0;
    if (complete.cacheScope !== 'public' && complete.cacheScope !== 'private') {
      complete.cacheScope = 'private';
    }
  }
  return complete;
}

/**
 * The relay session of one stateless request: it lives as long as the
 * request (and its input rounds), takes only what relates to it (progress,
 * and logs when the request asked for them), and hands the child's own
 * requests to `onRequest`: this revision asks the client for input with
 * `input_required` results instead (see input-rounds.ts).
 */
export class StatelessRequestSession implements RelaySession {
  readonly capabilities: JsonObject | undefined;
  readonly logLevel: McpLogLevel | undefined;
  /** Logs only when the request asked for them (`io.modelcontextprotocol/logLevel`). */
  readonly stateless = true;
  /** Where the child's requests go; false (or unset): the session cannot take this one. */
  onRequest: ((request: JsonRpcRequest) => boolean) | undefined;

  constructor(
    readonly id: string,
    readonly caller: Caller,
    request: JsonRpcRequest,
    /** The open response stream of the request, or of its latest retry. */
    public sink: (message: JsonRpcMessage) => boolean,
  ) {
    const meta = metaOf(request.params);
    const capabilities = meta?.[META.clientCapabilities];
    this.capabilities =
      typeof capabilities === 'object' && capabilities !== null
        ? (capabilities as JsonObject)
        : undefined;
    const level = meta?.[META.logLevel];
    this.logLevel = isLogLevel(level) ? level : undefined;
  }

  deliver(message: JsonRpcMessage, relatedRequestId: JsonRpcId | undefined): boolean {
    if ('id' in message && 'method' in message) {
      return this.onRequest?.(message) ?? false;
    }
    if (relatedRequestId === undefined || 'id' in message) return false;
    return this.sink(message);
  }
}

export interface SubscriptionFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** By notification method; a Map, so a child's `constructor` or `__proto__` finds nothing. */
const LIST_CHANGED: ReadonlyMap<string, keyof SubscriptionFilter> = new Map([
  ['notifications/tools/list_changed', 'toolsListChanged'],
  ['notifications/prompts/list_changed', 'promptsListChanged'],
  ['notifications/resources/list_changed', 'resourcesListChanged'],
] as const);

export function parseSubscriptionFilter(params: JsonObject | undefined): SubscriptionFilter {
  const raw = params?.notifications;
  const filter: SubscriptionFilter = {};
  if (typeof raw !== 'object' || raw === null) return filter;
  const value = raw as JsonObject;
  for (const key of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) {
    if (value[key] === true) filter[key] = true;
  }
  if (Array.isArray(value.resourceSubscriptions)) {
    filter.resourceSubscriptions = value.resourceSubscriptions.filter(
      (uri): uri is string => typeof uri === 'string',
    );
  }
  return filter;
}

/**
 * The relay session behind a `subscriptions/listen` stream: it receives the
 * tenant's change notifications the client opted in to, each tagged with the
 * listen request's id.
 */
export class ListenSession implements RelaySession {
  readonly capabilities = undefined;
  readonly stateless = true;

  constructor(
    readonly id: string,
    readonly caller: Caller,
    readonly listenId: JsonRpcId,
    readonly filter: SubscriptionFilter,
    private readonly sink: (message: JsonRpcMessage) => boolean,
  ) {}

  /** The stream's first message. */
  acknowledgement(): JsonRpcMessage {
    return {
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: this.filter, _meta: { [META.subscriptionId]: this.listenId } },
    };
  }

  deliver(message: JsonRpcMessage, relatedRequestId: JsonRpcId | undefined): boolean {
    if (relatedRequestId !== undefined || !('method' in message) || 'id' in message) return false;
    const flag = LIST_CHANGED.get(message.method);
    // Resource updates reach this session only for URIs it subscribed to.
    const wanted = flag
      ? this.filter[flag] === true
      : message.method === 'notifications/resources/updated';
    if (!wanted) return false;
    const meta = metaOf(message.params) ?? {};
    return this.sink({
      ...message,
      params: { ...message.params, _meta: { ...meta, [META.subscriptionId]: this.listenId } },
    });
  }
}
