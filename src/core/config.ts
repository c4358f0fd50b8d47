/**
 * The resolved manifest: what the rest of the supervisor reads. Field names
 * mirror the YAML keys (snake_case) so the docs, the file and the code use
 * the same words. Defaults are already applied and paths are absolute.
 */

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface Quotas {
  max_tools: number;
  max_resources: number;
  max_requests_per_minute: number;
  max_storage_mb: number;
  max_concurrent_requests: number;
  /** Requests waiting for a free slot once `max_concurrent_requests` are in flight (0: refuse at once). */
  max_queue: number;
  /** Per user of the tenant; unset: only the tenant's own rate applies. */
  max_requests_per_minute_per_user?: number | undefined;
  /** `tools/call` requests per UTC calendar day, counted durably; unset: unlimited. */
  max_tool_calls_per_day?: number | undefined;
  /** `tools/call` requests per UTC calendar month, counted durably; unset: unlimited. */
  max_tool_calls_per_month?: number | undefined;
  /** Open HTTP sessions per user of the tenant; unset: `server.max_sessions_per_user`. */
  max_sessions_per_user?: number | undefined;
  /** Open HTTP sessions of the tenant; unset: `server.max_sessions_per_tenant`. */
  max_sessions_per_tenant?: number | undefined;
  /** Resource URIs one session may be subscribed to at once. */
  max_subscriptions_per_session: number;
}

/** Names (globs) a tenant's callers may use; a `deny` match always wins over `allow`. */
export interface AccessList {
  allow: string[];
  deny: string[];
}

/** The manifest's per-tenant policy, intersected with each token's permissions. */
export interface TenantPolicy {
  tools: AccessList;
  resources: AccessList;
  prompts: AccessList;
}

export interface Limits {
  /** Memory cap for the child, in MiB. */
  memory_mb?: number | undefined;
  /** CPU cap in cores (may be fractional, e.g. 0.5). */
  cpu?: number | undefined;
  /** Maximum number of processes/threads in the child's tree. */
  pids?: number | undefined;
  /** Maximum open file descriptors per process (RLIMIT_NOFILE). */
  open_files?: number | undefined;
}

export interface TenantConfig {
  id: string;
  name: string;
  /** Executable of the child; undefined means the built-in tenant server. */
  command?: string | undefined;
  args: string[];
  /** Environment given to the child, on top of the minimal allow-list. */
  env: Record<string, string>;
  quotas: Quotas;
  limits: Limits;
  /** How long one request may wait for the child's answer. */
  request_timeout_ms: number;
  /**
   * `tenant`: one child shared by all of the tenant's sessions (default).
   * `session`: one child per session, for servers that keep per-connection
   * state; at most `max_sessions` at once.
   */
  isolation: 'tenant' | 'session';
  max_sessions: number;
  /**
   * Shared children the tenant may run at once: more start while its load
   * stays high, and stop again after `idle_timeout_ms` without requests.
   * 1: exactly one child.
   */
  max_instances: number;
  /** Stop the child after this long without a request (0: never). */
  idle_timeout_ms: number;
  /** Start the child with the supervisor instead of on first use, and keep it warm. */
  eager: boolean;
  /** How long a new child may take to answer `initialize` before it is killed. */
  start_timeout_ms: number;
  /** What the audit trail keeps of this tenant's calls. */
  audit: AuditConfig;
  /** Which tools, resources and prompts the tenant's callers may use at most. */
  policy: TenantPolicy;
  /** Absolute paths of the tenant's own tool modules (built-in server only). */
  tools_modules: string[];
  /** The user and group the child runs as (`user:`/`group:`); unset: the supervisor's own. */
  run_as?: RunAs | undefined;
}

/** A tenant's own system identity, resolved from the user database when the manifest loads. */
export interface RunAs {
  uid: number;
  gid: number;
  /** How messages name them: `nobody (uid 65534)`, `uid 64000`. */
  user: string;
  group: string;
}

export interface AuditConfig {
  /** Store tool and prompt arguments (they may hold personal data; off by default). */
  arguments: boolean;
  /** Longer arguments are cut to this many bytes. */
  max_argument_bytes: number;
}

export interface TelemetryConfig {
  /** Raw request rows are kept this long, then rolled up into hourly aggregates. */
  retention_days: number;
  /** Hourly aggregates are kept this long. */
  rollup_retention_days: number;
  /** Telemetry is written at least this often (a SIGKILL loses at most this much). */
  flush_interval_ms: number;
  /** ...or as soon as this many records wait. */
  flush_rows: number;
  /** `host:port` (loopback only) serving /metrics without a token, for a Prometheus scraper. */
  metrics_listen?: string | undefined;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Absolute; tenant folders live below it (`<data_dir>/<tenant>/`). */
  data_dir: string;
  max_body_bytes: number;
  /** Longest line a child may print on stdout before it is killed. */
  max_line_bytes: number;
  /**
   * Deepest nesting of objects and arrays accepted in any JSON that enters
   * (HTTP bodies, stdio lines, children's stdout lines); deeper is refused
   * before it is parsed.
   */
  max_json_depth: number;
  /** Extra browser origins allowed to call the HTTP front. */
  allowed_origins: string[];
  /**
   * Host headers admitted besides the bind address's own (on a loopback
   * bind, where Host is checked): the names a proxy in front forwards.
   */
  allowed_hosts: string[];
  /** Sessions with no traffic for this long are closed. */
  session_idle_timeout_ms: number;
  /** Open HTTP sessions per user of a tenant (a tenant's `quotas` may set its own). */
  max_sessions_per_user: number;
  /** Open HTTP sessions per tenant (a tenant's `quotas` may set its own). */
  max_sessions_per_tenant: number;
  /** Bytes all slow readers together may leave unread on event streams and session backlogs. */
  max_unread_bytes: number;
  /** Longest resource URI a request may name (`resources/read`, subscriptions, completion). */
  max_uri_length: number;
  /** How often the watchdog samples every child's CPU and memory. */
  watchdog_interval_ms: number;
  /** Where no cgroup caps CPU: throttle a child over its `cpu` limit, or only record it. */
  cpu_over_limit: 'throttle' | 'record';
  /**
   * Where everything durable lives: `sqlite` (the embedded store in
   * `data_dir`) or a `postgres://` URL shared by every node of a cluster.
   */
  store: StoreConfig;
  /** Processes serving this host's port as one cluster (one per core, say). */
  workers: number;
  /**
   * The origin clients use (`https://mcp.example.com`), when a proxy in front
   * serves this one: named in RFC 9728 metadata and 401 challenges, admitted
   * as Host and Origin, and the default token audience.
   */
  public_url?: string | undefined;
}

export type StoreConfig = { kind: 'sqlite' } | { kind: 'postgres'; url: string };

export interface ClusterConfig {
  /** A node that has not renewed its leases for this long is taken over. */
  lease_ms: number;
  /** Where the other nodes reach this one (default: its own listen URL). */
  advertise_url?: string | undefined;
  /** Authenticates requests between nodes; unset, a node forwards nothing (one node). */
  key?: string | undefined;
}

export interface AuthConfig {
  /** HS256 shared secret, at least 32 bytes. */
  secret: string;
  issuer?: string | undefined;
  /** `aud` a token must carry one of; tokens we sign carry the first. */
  audience?: string[] | undefined;
  /**
   * The RFC 8707 resource, `<server.public_url>/mcp`: the audience an
   * issuer's (RS256/ES256) tokens must carry when `audience` is unset.
   */
  resource?: string | undefined;
  /** Announced in RFC 9728 metadata: where clients get tokens. */
  authorization_servers?: string[] | undefined;
  /** Announced in RFC 9728 metadata and 401 challenges. */
  scopes_supported?: string[] | undefined;
  /** Which claims name the tenant, the user and the permissions (default DEFAULT_CLAIMS). */
  claims?: ClaimMapping | undefined;
  /** RS256/ES256 public keys (PEM) that tokens may also be signed with. */
  public_keys?: PublicKeyConfig[] | undefined;
  /** A JWKS endpoint of the token issuer, for RS256/ES256 tokens with a `kid`. */
  jwks?: JwksConfig | undefined;
}

/**
 * Claim names (or dotted paths into nested claims) read from a token. An
 * identity provider's tokens carry the organisation and the scopes in
 * claims of their own.
 */
export interface ClaimMapping {
  tenant: string;
  /** Only tenant values with this prefix count, and it is cut off (groups like `mcp:acme`). */
  tenant_prefix?: string | undefined;
  /** Unset: `user_id`, else `sub`. */
  user?: string | undefined;
  /** An array of strings, or a space-separated string (`scope`). */
  permissions: string;
}

export const DEFAULT_CLAIMS: ClaimMapping = { tenant: 'tenant_id', permissions: 'permissions' };

export interface PublicKeyConfig {
  /** The file it was read from, for messages. */
  source: string;
  pem: string;
}

export interface JwksConfig {
  url: string;
  /** A fetch of the key set that takes longer fails (and so does the token). */
  timeout_ms: number;
  /** An unknown `kid` refetches the set at most this often (key rotation). */
  cooldown_ms: number;
}

export interface Manifest {
  /** Absolute path of the file this was loaded from. */
  path: string;
  server: ServerConfig;
  auth: AuthConfig;
  telemetry: TelemetryConfig;
  cluster: ClusterConfig;
  tenants: Map<string, TenantConfig>;
}

export const DEFAULT_QUOTAS: Quotas = {
  max_tools: 100,
  max_resources: 1000,
  max_requests_per_minute: 1000,
  max_storage_mb: 1024,
  max_concurrent_requests: 64,
  max_queue: 0,
  max_subscriptions_per_session: 100,
};

/** Everything allowed, nothing denied: the token's permissions alone decide. */
export const DEFAULT_POLICY: TenantPolicy = {
  tools: { allow: ['*'], deny: [] },
  resources: { allow: ['*'], deny: [] },
  prompts: { allow: ['*'], deny: [] },
};

export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;

export const DEFAULT_SERVER = {
  host: '127.0.0.1',
  port: 7800,
  data_dir: './data',
  max_body_bytes: 4 * 1024 * 1024,
  max_line_bytes: 16 * 1024 * 1024,
  max_json_depth: 64,
  allowed_origins: [] as string[],
  allowed_hosts: [] as string[],
  session_idle_timeout_ms: 30 * 60 * 1000,
  max_sessions_per_user: 100,
  max_sessions_per_tenant: 1000,
  max_unread_bytes: 64 * 1024 * 1024,
  max_uri_length: 2048,
  watchdog_interval_ms: 1_000,
  cpu_over_limit: 'throttle' as 'throttle' | 'record',
  workers: 1,
};

export const DEFAULT_LEASE_MS = 10_000;

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Sessions (and so children) at once for an `isolation: session` tenant. */
export const DEFAULT_MAX_SESSIONS = 16;

export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60 * 1000;

export const DEFAULT_START_TIMEOUT_MS = 30_000;

export const DEFAULT_AUDIT: AuditConfig = { arguments: false, max_argument_bytes: 4096 };

export const DEFAULT_TELEMETRY: TelemetryConfig = {
  retention_days: 30,
  rollup_retention_days: 400,
  flush_interval_ms: 1_000,
  flush_rows: 1_000,
};
