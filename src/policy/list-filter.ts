import type { Quotas } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { JsonObject, JsonRpcResponse } from '../core/jsonrpc.js';
import type { ForwardContext, Next } from '../core/pipeline.js';
import { isStatelessRequest } from '../core/revisions.js';
import { type PermissionKind, refusalFor, templateRefusal } from './access.js';
import type { ListCursors } from './list-cursor.js';
import type { CappedKind, ListingCatalog } from './listing-catalog.js';
import type { OverCapRecorder } from './over-cap.js';

interface ListShape {
  kind: PermissionKind;
  /** The result's array, and the key of each item that permissions match. */
  field: string;
  key: string;
  cap?: { quota: keyof Quotas & ('max_tools' | 'max_resources'); kind: CappedKind };
  template?: boolean;
}

/**
 * The lists a caller sees filtered by its permissions (and cut by the
 * tenant's caps). A Map, not an object: a method named `constructor` or
 * `__proto__` must find nothing here, not something inherited.
 */
export const LIST_SHAPES: ReadonlyMap<string, ListShape> = new Map<string, ListShape>([
  [
    'tools/list',
    { kind: 'tools', field: 'tools', key: 'name', cap: { quota: 'max_tools', kind: 'tools' } },
  ],
  ['prompts/list', { kind: 'prompts', field: 'prompts', key: 'name' }],
  [
    'resources/list',
    {
      kind: 'resources',
      field: 'resources',
      key: 'uri',
      cap: { quota: 'max_resources', kind: 'resources' },
    },
  ],
  [
    'resources/templates/list',
    { kind: 'resources', field: 'resourceTemplates', key: 'uriTemplate', template: true },
  ],
]);

export interface ListFilterDeps {
  cursors: ListCursors;
  catalog: ListingCatalog;
  overCap: OverCapRecorder;
}

/**
 * Forwards a list request and keeps what the caller may use. The cap cuts
 * first, by position in the child's own order across pages (the first
 * `max_tools` tools the child lists, whoever asks); permissions filter
 * after. Pages stay pages: a page may come back empty with a `nextCursor`.
 */
export async function filteredList(
  context: ForwardContext,
  next: Next,
  shape: ListShape,
  deps: ListFilterDeps,
): Promise<JsonRpcResponse> {
  const { tenant, session, request } = context;
  const scope = `${tenant.id}\u0000${request.method}`;
  let offset = 0;
  let forwarded = request;
  if (request.params?.cursor !== undefined) {
    const position = deps.cursors.unwrap(scope, request.params.cursor);
    offset = position.offset;
    forwarded = { ...request, params: { ...request.params, cursor: position.childCursor } };
  }
  const response = await next(forwarded);
  if (!('result' in response)) return response;

  const field = response.result[shape.field];
  const items = (Array.isArray(field) ? field : []).filter(
    (item): item is JsonObject =>
      typeof item === 'object' && item !== null && typeof item[shape.key] === 'string',
  );
  const cap = shape.cap ? tenant.quotas[shape.cap.quota] : Number.POSITIVE_INFINITY;
  const kept = items.slice(0, Math.max(0, cap - offset));
  const end = offset + items.length;
  const childNext = response.result.nextCursor;
  const more = typeof childNext === 'string' && childNext !== '';
  if (shape.cap) {
    // Over the cap: more items than it, or exactly as many with pages still to come.
    const over = end > cap || (end === cap && more);
    const ending = over ? 'cap' : more ? undefined : 'complete';
    const names = kept.map((item) => item[shape.key] as string);
    deps.catalog.recordPage(tenant.id, shape.cap.kind, offset, names, ending);
    // With pages still to come the child lists at least one more than seen.
    if (ending) deps.overCap.listed(tenant.id, shape.cap.kind, more ? end + 1 : end, cap, !more);
  }

  if (shape.kind === 'tools') {
    for (const tool of items) {
      const annotations = tool.annotations as { readOnlyHint?: unknown } | undefined;
      deps.catalog.recordTool(tenant.id, tool.name as string, annotations?.readOnlyHint === true);
    }
  }

  const caller = session.caller;
  const visible = kept.filter((item) => {
    const name = item[shape.key] as string;
    const refusal = shape.template
      ? templateRefusal(caller, tenant.policy, name)
      : refusalFor(caller, tenant.policy, shape.kind, name);
    return refusal === undefined;
  });
  const { nextCursor: _childCursor, ...rest } = response.result;
  const result: JsonObject = { ...rest, [shape.field]: visible };
  if (more && end < cap) {
    result.nextCursor = deps.cursors.wrap(scope, { childCursor: childNext as string, offset: end });
  }
  // What one caller sees is not what another would: never shareable (2026-07-28).
  if (isStatelessRequest(request)) result.cacheScope = 'private';
  return { ...response, result };
}

/** Calls to a name the cap hides fail as if it were not there, saying why. */
export function beyondCap(
  tenantId: string,
  kind: CappedKind,
  name: string,
  quotas: Quotas,
): McpTenantsError {
  const quota = kind === 'tools' ? 'max_tools' : 'max_resources';
  const noun = kind === 'tools' ? 'tool' : 'resource';
  return new McpTenantsError(
    ErrorCode.QUOTA_EXCEEDED,
    `${noun} ${JSON.stringify(name)} is not exposed: tenant ${tenantId} shows only the first ${quotas[quota]} ${kind} its server lists (${quota})`,
    { data: { quota, limit: quotas[quota] } },
  );
}
