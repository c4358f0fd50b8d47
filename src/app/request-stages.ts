import type { RequestStage } from '../core/pipeline.js';
import { identityStage } from '../relay/identity-stage.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { RequestGuard } from './request-guard.js';

export interface RequestStageDeps {
  telemetry?: Telemetry | undefined;
  /** Revocations, permissions and quotas. */
  guard?: RequestGuard | undefined;
}

/**
 * The stages every client request passes before it reaches a tenant's
 * child, in order. Telemetry comes first so that it also records the
 * refusals of the stages after it (policy, quota) as they reach the client.
 * Policy comes before quota, so a forbidden request uses up no quota; the
 * caller's identity is stamped last, right before the child.
 */
export function buildRequestStages(deps: RequestStageDeps): RequestStage[] {
  const stages: RequestStage[] = [];
  if (deps.telemetry) stages.push(deps.telemetry.stage);
  if (deps.guard) stages.push(...deps.guard.stages);
  stages.push(identityStage());
  return stages;
}
