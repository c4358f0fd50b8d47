import type { JsonRpcMessage, JsonRpcRequest } from './jsonrpc.js';
import { metaOf } from './jsonrpc.js';
import { PACKAGE_VERSION } from './version.js';

/** MCP protocol revisions the relay speaks with session-based clients. */
export const SESSION_PROTOCOL_VERSIONS = [
  '2025-11-25',
  '2025-06-18',
  '2025-03-26',
  '2024-11-05',
] as const;

export const LATEST_SESSION_PROTOCOL_VERSION = SESSION_PROTOCOL_VERSIONS[0];

export function isSupportedProtocolVersion(version: string): boolean {
  return (SESSION_PROTOCOL_VERSIONS as readonly string[]).includes(version);
}

/**
 * The version a front session gets: the client's own when we speak it (the
 * relay carries message bodies unchanged), otherwise our latest, which the
 * client may then refuse, as the specification describes.
 */
export function negotiateProtocolVersion(requested: unknown): string {
  return typeof requested === 'string' && isSupportedProtocolVersion(requested)
    ? requested
    : LATEST_SESSION_PROTOCOL_VERSION;
}

/** How the supervisor names itself to clients and children. */
export const SUPERVISOR_INFO = { name: 'mcp-tenants', version: PACKAGE_VERSION } as const;

/**
 * The stateless MCP revision 2026-07-28: no `initialize`, no sessions; every
 * request carries its protocol version and client capabilities in `_meta`.
 * The session-based revisions are the 2025 ones (and 2024-11-05): one
 * `initialize` per session, then requests on that session.
 */
export const STATELESS_PROTOCOL_VERSIONS = ['2026-07-28'] as const;

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** A request of the stateless revision: `server/discover` or one carrying its version in `_meta`. */
export function isStatelessRequest(message: JsonRpcMessage): boolean {
  if (!('method' in message) || !('id' in message)) return false;
  if (message.method === 'server/discover') return true;
  return typeof metaOf(message.params)?.[META.protocolVersion] === 'string';
}

export function requestedVersion(request: JsonRpcRequest): string | undefined {
  const version = metaOf(request.params)?.[META.protocolVersion];
  return typeof version === 'string' ? version : undefined;
}

export function isStatelessVersion(version: string): boolean {
  return (STATELESS_PROTOCOL_VERSIONS as readonly string[]).includes(version);
}
