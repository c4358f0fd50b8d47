/**
 * `mcp-tenants init`: a commented manifest that runs as written. The secret
 * is inline (the file is written 0600) so it loads with no environment set.
 */

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { atomicReplace } from './atomic-replace.js';
import { generateSecret } from './secret-file.js';

export interface InitialManifestOptions {
  secret: string;
  /** Where editors find the manifest's JSON Schema (default: the one shipped with this package). */
  schemaLocation?: string;
}

/** The JSON Schema shipped with the package, for the editor modeline. */
export const SHIPPED_SCHEMA = fileURLToPath(
  new URL('../../schema/tenants.schema.json', import.meta.url),
);

/** Double-quoted YAML; `${` is escaped so the secret is never read as a variable. */
function yamlString(value: string): string {
  // A function replacer: in a replacement string, `$$` would mean a single `$`.
  return JSON.stringify(value.replaceAll('${', () => '$${'));
}

export function renderInitialManifest(options: InitialManifestOptions): string {
  return `# yaml-language-server: $schema=${options.schemaLocation ?? SHIPPED_SCHEMA}
# mcp-tenants manifest: one MCP endpoint, one child MCP server per tenant.
# Any string value may use \${VAR} or \${VAR:-default} from the environment
# (write $\${ for a literal \${). Unknown keys are errors, so typos show up.

# The HTTP front (Streamable HTTP at /mcp). Every key is optional.
server:
  host: 127.0.0.1          # listen address; 0.0.0.0 to accept remote hosts
  port: 7800               # 0 picks a free port
  data_dir: ./data         # per-tenant folders, relative to this file
  # public_url: https://mcp.example.com         # behind a TLS proxy: the URL clients use
  # allowed_origins: [https://app.example.com]   # browser origins allowed to call /mcp
  # max_body_bytes: 4194304                      # largest accepted HTTP request body
  # max_json_depth: 64                           # deepest JSON accepted from clients and children
  # session_idle_timeout_ms: 1800000             # close sessions idle this long
  # max_sessions_per_user: 100                   # open sessions per user of a tenant
  # max_sessions_per_tenant: 1000                # open sessions per tenant
  # max_unread_bytes: 67108864                   # all slow readers' unread bytes together
  # max_uri_length: 2048                         # longest resource URI a request may name

# Tokens are HS256 JWTs signed with this secret (at least 32 bytes).
# Keep this file private (it was written with mode 0600), or move the secret
# out of it: secret: \${MCP_TENANTS_SECRET}  or  secret_file: ./.mcp-tenants/secret
auth:
  secret: ${yamlString(options.secret)}
  # issuer: https://issuer.example   # required \`iss\` claim, if set
  # audience: mcp-tenants            # required \`aud\` claim (an issuer's tokens: public_url + /mcp)
  # Tokens of an external issuer (RS256/ES256), besides HS256 ones:
  # public_key_file: ./issuer.pem    # or a list of PEM files
  # jwks_url: https://issuer.example/.well-known/jwks.json
  # authorization_servers: [https://issuer.example]   # where clients get tokens (default: issuer)
  # claims: { tenant: org_id, user: sub, permissions: scope }   # an identity provider's claim names

# Applied to every tenant; a tenant's own values override them key by key.
defaults:
  quotas:
    max_tools: 100                 # tools a tenant's listing may show
    max_resources: 1000            # resources a tenant's listing may show
    max_requests_per_minute: 1000
    max_storage_mb: 1024           # built-in server's SQLite data
    max_concurrent_requests: 64
    # max_queue: 0                   # requests that may wait for a slot (0: refuse at once)
    # max_requests_per_minute_per_user: 120
    # max_tool_calls_per_day: 10000  # UTC days, counted durably across restarts
    # max_tool_calls_per_month: 200000
    # max_subscriptions_per_session: 100  # resource URIs one session may subscribe to
  limits:                          # per child process, enforced by cgroups or rlimits
    memory_mb: 512
    cpu: 1                         # cores; fractions such as 0.5 are fine
    pids: 64
  request_timeout_ms: 60000        # how long one request may wait for the child

# Telemetry and the audit trail, read by \`mcp-tenants report\` and \`audit\`,
# and served at GET /metrics. Every key is optional.
# telemetry:
#   retention_days: 30             # raw rows; older ones become hourly aggregates
#   rollup_retention_days: 400     # how long hourly aggregates are kept
#   metrics_listen: 127.0.0.1:9464 # /metrics without a token, loopback only

# One entry per tenant, keyed by id ([a-z0-9][a-z0-9_-]{0,62}).
# Add more with: mcp-tenants add-tenant <id> -m <this file>
tenants:
  example:
    name: Example Tenant           # shown in reports; defaults to the id
    # No command: the built-in tenant server (SQLite key-value tools).
    quotas: { max_requests_per_minute: 120 }
    # tools: { allow: ["data_*"], deny: [data_delete] }   # deny wins, also over admin tokens
    # tools_modules: [./tools/example.mjs]                 # the tenant's own tools
    # audit: { arguments: true }   # keep tool arguments in the audit trail (off: they may be personal)

  # Any stdio MCP server can be a tenant's child instead:
  # files:
  #   command: npx
  #   args: [-y, "@modelcontextprotocol/server-filesystem", /srv/files]
  #   env: { API_KEY: \${FILES_API_KEY} }
  #   limits: { memory_mb: 256, cpu: 0.5 }
`;
}

/** Writes a fresh manifest with a random secret (mode 0600); returns its absolute path. */
export function writeInitialManifest(path: string, options: { force?: boolean } = {}): string {
  const absolute = resolve(path);
  if (existsSync(absolute) && options.force !== true) {
    throw new McpTenantsError(
      ErrorCode.USAGE,
      `${path} already exists; pass --force to overwrite it (its secret and tenants would be lost)`,
    );
  }
  mkdirSync(dirname(absolute), { recursive: true });
  atomicReplace(absolute, renderInitialManifest({ secret: generateSecret() }), 0o600);
  return absolute;
}
