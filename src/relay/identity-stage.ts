import { TENANT_ID_META_KEY, USER_ID_META_KEY } from '../core/child-meta.js';
import { metaOf } from '../core/jsonrpc.js';
import type { RequestStage } from '../core/pipeline.js';

/**
 * Stamps the verified caller into `params._meta` of every request on its way
 * to the child (see identity-meta.ts). Last in the pipeline, so nothing
 * after it can change what the child is told.
 */
export function identityStage(): RequestStage {
  // Not async: it hands on the promise of the next stage rather than wrapping it in another.
  return (context, next) => {
    const { request, tenant, session } = context;
    const params = request.params ?? {};
    const _meta = {
      ...metaOf(params),
      [USER_ID_META_KEY]: session.caller.userId,
      [TENANT_ID_META_KEY]: tenant.id,
    };
    return next({ ...request, params: { ...params, _meta } });
  };
}
