import type { RequestStage } from '../core/pipeline.js';
import { refusalFor, templateRefusal } from './access.js';
import { beyondCap, filteredList, LIST_SHAPES, type ListFilterDeps } from './list-filter.js';
import { permissionDenied } from './permission-error.js';
import { requestedAccess } from './request-access.js';

export interface PolicyStageDeps extends ListFilterDeps {
  /** `server.max_uri_length`, read per request so a reload applies. */
  maxUriLength: () => number;
}

/**
 * The policy stage: a request for a tool, resource or prompt the caller may
 * not use is refused here (FORBIDDEN), so the child never sees it; lists
 * come back filtered to what the caller may use. The tenant's policy and
 * caps are read from the request's current config, so a reload applies to
 * the next request. A resource URI over `server.max_uri_length` is refused
 * before any of it (USAGE), so no glob ever runs over an unbounded name.
 */
export function policyStage(deps: PolicyStageDeps): RequestStage {
  return async (context, next) => {
    const { tenant, session, request } = context;
    const access = requestedAccess(request, deps.maxUriLength());
    if (access) {
      const refusal = access.template
        ? templateRefusal(session.caller, tenant.policy, access.name)
        : refusalFor(session.caller, tenant.policy, access.kind, access.name);
      if (refusal) {
        throw permissionDenied(tenant.id, session.caller, access.kind, access.name, refusal);
      }
      const capped = access.kind === 'prompts' || access.template ? undefined : access.kind;
      if (capped && deps.catalog.isHidden(tenant.id, capped, access.name)) {
        throw beyondCap(tenant.id, capped, access.name, tenant.quotas);
      }
      return next(request);
    }
    const shape = LIST_SHAPES.get(request.method);
    return shape ? filteredList(context, next, shape, deps) : next(request);
  };
}
