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

export const SUPERVISOR_INFO = { name: 'mcp-tenants', version: '0.1.0' } as const;
