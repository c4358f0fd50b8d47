import type { ServerResponse } from 'node:http';
import type { AuthConfig } from '../../core/config.js';
import { sendJson } from './respond.js';

/** RFC 9728 metadata, at the root and with the resource's path appended. */
export const RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';

/** What the front announces about tokens: the parts of `auth` clients may know. */
export type OAuthAnnouncement = Pick<
  AuthConfig,
  'issuer' | 'authorization_servers' | 'scopes_supported' | 'public_keys' | 'jwks'
>;

/**
 * Where clients are told to get tokens (RFC 9728 `authorization_servers`,
 * which may not be empty): the servers the manifest names, else the issuer
 * of external tokens, else this server itself — whose OAuth endpoints then
 * explain how to send a token instead of leaving an OAuth client with a 404.
 */
export function authorizationServers(auth: OAuthAnnouncement, baseUrl: string): string[] {
  if (auth.authorization_servers !== undefined) return [...auth.authorization_servers];
  const external = (auth.public_keys?.length ?? 0) > 0 || auth.jwks !== undefined;
  if (external && auth.issuer !== undefined) return [auth.issuer];
  return [baseUrl];
}

export function sendResourceMetadata(
  response: ServerResponse,
  auth: OAuthAnnouncement,
  baseUrl: string,
): void {
  sendJson(response, 200, {
    resource: `${baseUrl}/mcp`,
    authorization_servers: authorizationServers(auth, baseUrl),
    ...(auth.scopes_supported !== undefined && { scopes_supported: auth.scopes_supported }),
    bearer_methods_supported: ['header'],
    resource_name: 'mcp-tenants',
  });
}

/**
 * The endpoints an OAuth client tries on an authorization server: metadata
 * (RFC 8414, OpenID discovery, either with a path appended), dynamic
 * registration (RFC 7591), authorization and token.
 */
export function isOAuthEndpoint(path: string): boolean {
  return (
    path === '/register' ||
    path === '/authorize' ||
    path === '/token' ||
    path.startsWith('/.well-known/oauth-authorization-server') ||
    path.startsWith('/.well-known/openid-configuration') ||
    path.endsWith('/.well-known/openid-configuration')
  );
}

/**
 * This server issues no tokens, so an OAuth client that comes here gets an
 * RFC 6749 §5.2 style error whose description says what to do instead;
 * hosts such as mcp-remote show it to the user as it is. Metadata requests
 * get 404 (clients then try the next place), the others 400.
 */
export function refuseOAuth(
  response: ServerResponse,
  path: string,
  auth: OAuthAnnouncement,
  baseUrl: string,
): void {
  const servers = authorizationServers(auth, baseUrl).filter((url) => url !== baseUrl);
  const description =
    servers.length > 0
      ? `this MCP server does not issue tokens: get one from ${servers.join(' or ')}, or send Authorization: Bearer <token> with a token from \`mcp-tenants token\``
      : 'this MCP server does not issue tokens: send Authorization: Bearer <token> with a token from `mcp-tenants token <tenant>` (ask its operator for one; a token that expired needs a new one)';
  const discovery = path.includes('/.well-known/');
  sendJson(
    response,
    discovery ? 404 : 400,
    { error: discovery ? 'not_found' : 'invalid_request', error_description: description },
    { 'cache-control': 'no-store' },
  );
}
