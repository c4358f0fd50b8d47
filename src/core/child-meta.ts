/**
 * The `_meta` keys under which the supervisor tells a tenant's child who is
 * calling. They are set on every forwarded request, overwriting whatever a
 * client put there, so a child can attribute actions (the built-in server
 * records the user as `updated_by`) but must never base access decisions
 * on them: the supervisor has already made those. The client's token itself
 * never reaches a child.
 */
export const USER_ID_META_KEY = 'io.mcp-tenants/user_id';
export const TENANT_ID_META_KEY = 'io.mcp-tenants/tenant_id';

/**
 * `_meta` key a cooperating child puts on a server-to-client request to name
 * the (relayed) id of the client request that caused it. With it, routing is
 * exact; without it, the request goes only where no other session could be
 * meant (see `routeUnattributed` in relay/server-requests.ts).
 */
export const RELATED_REQUEST_META_KEY = 'io.mcp-tenants/related-request-id';

/**
 * `_meta` key a cooperating 2025 child may put on a server-to-client request
 * to name its key in the `inputRequests` a stateless client gets (MRTR keys
 * are the server's to choose); without it the key is the supervisor's id.
 */
export const INPUT_KEY_META_KEY = 'io.mcp-tenants/input-key';
