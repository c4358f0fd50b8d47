import type { IncomingMessage } from 'node:http';
import type { ServerConfig } from '../../core/config.js';
import { ErrorCode, McpTenantsError } from '../../core/errors.js';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

export interface OriginPolicy {
  /** Host names (with port) a request's Host header may carry; empty = any. */
  allowedHosts: Set<string>;
  /** Host names admitted on any port (`server.allowed_hosts` entries without one). */
  allowedNames?: Set<string>;
  /** Browser origins allowed to call us; our own origins always are. */
  allowedOrigins: Set<string>;
}

/**
 * Browsers can reach a server on 127.0.0.1 from any web page; checking Origin
 * (and Host, against DNS rebinding) keeps a page from driving it. A proxy in
 * front forwards the public name: `server.public_url` and
 * `server.allowed_hosts` admit it.
 */
export function originPolicy(
  config: Pick<ServerConfig, 'host' | 'allowed_origins' | 'allowed_hosts' | 'public_url'>,
  port: number,
): OriginPolicy {
  const { host } = config;
  const names = isLoopback(host) ? LOOPBACK_NAMES : [host];
  const hosts = new Set(names.map((name) => `${name}:${port}`));
  const origins = new Set([...[...hosts].map((h) => `http://${h}`), ...config.allowed_origins]);
  const publicUrl = config.public_url === undefined ? undefined : new URL(config.public_url);
  if (publicUrl) origins.add(publicUrl.origin);
  if (!isLoopback(host)) {
    // A public bind address can be reached under names we cannot know: skip the Host check there.
    return { allowedHosts: new Set(), allowedOrigins: origins };
  }
  // Names a proxy in front forwards with: on one port, or on any.
  const anyPort = new Set<string>();
  if (publicUrl) anyPort.add(publicUrl.hostname.toLowerCase());
  for (const name of config.allowed_hosts) {
    const lower = name.toLowerCase();
    if (/:\d+$/.test(lower)) hosts.add(lower);
    else anyPort.add(lower);
  }
  return { allowedHosts: hosts, allowedNames: anyPort, allowedOrigins: origins };
}

export function checkOrigin(request: IncomingMessage, policy: OriginPolicy): void {
  const origin = request.headers.origin;
  if (origin !== undefined && !policy.allowedOrigins.has(origin)) {
    throw new McpTenantsError(
      ErrorCode.ORIGIN_FORBIDDEN,
      `origin ${JSON.stringify(origin)} is not allowed; add it to server.allowed_origins`,
    );
  }
  const host = request.headers.host?.toLowerCase();
  if (policy.allowedHosts.size > 0 && (host === undefined || !hostAllowed(policy, host))) {
    throw new McpTenantsError(
      ErrorCode.ORIGIN_FORBIDDEN,
      `host ${JSON.stringify(host ?? '')} is not allowed for this server; behind a proxy that forwards this Host, set server.public_url to the URL clients use (https://${host ?? 'name'}), or add the name to server.allowed_hosts`,
    );
  }
}

function hostAllowed(policy: OriginPolicy, host: string): boolean {
  if (policy.allowedHosts.has(host)) return true;
  const name = host.replace(/:\d+$/, '');
  return policy.allowedNames?.has(name) ?? false;
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1';
}
