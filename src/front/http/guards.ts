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
  const names = isLoopback(host) ? [...new Set([...LOOPBACK_NAMES, host])] : [host];
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
      `host ${JSON.stringify(host ?? '')} is not allowed for this server; behind a proxy that forwards this Host, its operator sets server.public_url (the URL clients use) or server.allowed_hosts`,
    );
  }
  // Node keeps the first of several; a proxy in front may use the last (RFC 9112 §3.2: 400).
  if (host !== undefined && hostHeaders(request.rawHeaders) > 1) {
    throw new McpTenantsError(ErrorCode.BAD_REQUEST, 'more than one Host header; send one');
  }
}

function hostAllowed(policy: OriginPolicy, host: string): boolean {
  if (policy.allowedHosts.has(host)) return true;
  const name = host.replace(/:\d+$/, '');
  return policy.allowedNames?.has(name) ?? false;
}

function hostHeaders(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'host') count++;
  return count;
}

/** A bind address only this machine reaches: all of 127.0.0.0/8, localhost, ::1. */
function isLoopback(host: string): boolean {
  return /^127(\.\d{1,3}){3}$/.test(host) || host === 'localhost' || host === '::1';
}
