import { RELATED_REQUEST_META_KEY } from '../core/child-meta.js';
import { JsonRpcCode } from '../core/errors.js';
import {
  errorResponse,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  metaOf,
} from '../core/jsonrpc.js';
import type { RelaySession } from '../core/pipeline.js';
import { META } from '../core/revisions.js';
import { isLogLevel } from './log-levels.js';
import type { PendingRequests } from './pending-requests.js';
import { withoutRoutingMeta } from './server-requests.js';
import type { SessionState } from './session-state.js';
import { ListenSession } from './stateless.js';

export interface NotificationRoutes {
  pending: PendingRequests;
  state: SessionState;
  deliver: (session: RelaySession, message: JsonRpcMessage, related: JsonRpcId | undefined) => void;
}

/**
 * Sends a child's notification where it belongs: progress and its own
 * cancellations to the request they name, log messages to the request a
 * cooperating child names or else to every session that wants that level,
 * resource updates to the URI's subscribers, and everything else (list
 * changes, and methods newer than this relay) to every session.
 */
export function routeChildNotification(
  notification: JsonRpcNotification,
  { pending, state, deliver }: NotificationRoutes,
): void {
  const params = notification.params;
  // A stateless child tags what its listen streams carry with the listen request's id.
  const subscription = metaOf(params)?.[META.subscriptionId];
  if (subscription !== undefined) {
    const listen = pending.get(subscription)?.session;
    if (listen instanceof ListenSession) deliver(listen, notification, undefined);
    return;
  }
  switch (notification.method) {
    case 'notifications/progress': {
      const token = params?.progressToken;
      const entry = pending.get(token);
      if (!entry?.session || entry.progressToken === undefined) return;
      deliver(
        entry.session,
        { ...notification, params: { ...params, progressToken: entry.progressToken } },
        entry.clientId,
      );
      return;
    }
    case 'notifications/cancelled': {
      const requestId = params?.requestId;
      const entry = pending.get(requestId);
      if (!entry) return;
      const reason = typeof params?.reason === 'string' ? `: ${params.reason}` : '';
      pending.settle(
        requestId as number,
        errorResponse(
          entry.clientId,
          JsonRpcCode.REQUEST_CANCELLED,
          `the tenant's server cancelled the request${reason}`,
        ),
      );
      return;
    }
    case 'notifications/message': {
      const level = params?.level;
      if (!isLogLevel(level)) return;
      const related = pending.get(metaOf(params)?.[RELATED_REQUEST_META_KEY]);
      const message = { ...notification, params: withoutRoutingMeta(params) };
      if (related?.session) {
        if (state.wantsLog(related.session, level)) {
          deliver(related.session, message, related.clientId);
        }
        return;
      }
      for (const session of pending.sessions()) {
        if (state.wantsLog(session, level)) deliver(session, message, undefined);
      }
      return;
    }
    case 'notifications/resources/updated': {
      const uri = typeof params?.uri === 'string' ? params.uri : '';
      for (const session of state.subscribers(uri)) deliver(session, notification, undefined);
      return;
    }
    default:
      for (const session of pending.sessions()) deliver(session, notification, undefined);
  }
}
