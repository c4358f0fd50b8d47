/**
 * The manifest as users write it (before defaults and path resolution).
 * Every object is strict: an unknown key is a typo until proven otherwise.
 * Messages are written for the person editing the YAML file.
 */

import { z } from 'zod';
import { TENANT_ID_PATTERN } from '../core/config.js';

export const SECRET_MIN_BYTES = 32;

// `port: ${PORT:-7800}` expands to the string "7800": numeric fields accept
// text that is exactly a decimal number, and nothing looser.
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const numberFromText = (value: unknown): unknown =>
  typeof value === 'string' && NUMBER_TEXT.test(value) ? Number(value) : value;

// An empty section (`server:` with everything commented out) means "all defaults".
const nullAsEmpty = (value: unknown): unknown => (value === null ? {} : value);

const positiveInt = () => {
  const error = 'expected a positive integer';
  return z.preprocess(numberFromText, z.int({ error }).positive({ error }));
};

const intInRange = (min: number, max: number, error: string) =>
  z.preprocess(numberFromText, z.int({ error }).min(min, { error }).max(max, { error }));

const nonNegativeInt = () => {
  const error = 'expected a whole number of milliseconds, 0 or more';
  return z.preprocess(numberFromText, z.int({ error }).min(0, { error }));
};

const count = () => {
  const error = 'expected a whole number, 0 or more';
  return z.preprocess(numberFromText, z.int({ error }).min(0, { error }));
};

const positiveNumber = () => {
  const error = 'expected a positive number';
  return z.preprocess(numberFromText, z.number({ error }).positive({ error }));
};

const port = () => {
  const error = 'expected a port number, an integer from 0 to 65535 (0 picks a free port)';
  return z.preprocess(numberFromText, z.int({ error }).min(0, { error }).max(65535, { error }));
};

// Deeper JSON than this is not safe to serialise again (the stack); shallower would refuse MCP itself.
const MIN_JSON_DEPTH = 8;
const MAX_JSON_DEPTH = 1000;
const jsonDepth = () => {
  const error = `expected a nesting depth, an integer from ${MIN_JSON_DEPTH} to ${MAX_JSON_DEPTH}`;
  return z.preprocess(
    numberFromText,
    z.int({ error }).min(MIN_JSON_DEPTH, { error }).max(MAX_JSON_DEPTH, { error }),
  );
};

const text = () => z.string({ error: 'expected a string' }).min(1, { error: 'must not be empty' });

// Friendlier than a type error: `args: [--port, 8080]` means the text "8080".
const scalarText = () =>
  z.union([z.string(), z.number(), z.boolean()], {
    error: 'expected a string (numbers and booleans are also accepted)',
  });

const section = <Shape extends z.ZodRawShape>(shape: Shape) =>
  z.preprocess(nullAsEmpty, z.strictObject(shape));

const origin = () =>
  text().refine(isOrigin, {
    error: 'expected an origin like https://app.example.com (scheme://host[:port], no path)',
  });

function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Ids a kernel accepts: 0 to 2^32 - 2 (2^32 - 1 is the "no change" value of setresuid).
const MAX_SYSTEM_ID = 4_294_967_294;
// What useradd and most user databases allow; no `:` (the passwd separator), no leading `-`.
const SYSTEM_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,255}\$?$/;

/** `user: nobody` or `user: 65534` (also from `${VAR}`); resolved against the user database later. */
const systemId = (kind: 'user' | 'group') => {
  const error = `expected a ${kind} name or a numeric ${kind === 'user' ? 'uid' : 'gid'} (0 to ${MAX_SYSTEM_ID})`;
  return z.preprocess(
    numberFromText,
    z.union(
      [
        z.int({ error }).min(0, { error }).max(MAX_SYSTEM_ID, { error }),
        z.string({ error }).regex(SYSTEM_NAME, { error }),
      ],
      { error },
    ),
  );
};

export const quotasSchema = section({
  max_tools: positiveInt().optional(),
  max_resources: positiveInt().optional(),
  max_requests_per_minute: positiveInt().optional(),
  max_storage_mb: positiveInt().optional(),
  max_concurrent_requests: positiveInt().optional(),
  max_queue: count().optional(),
  max_requests_per_minute_per_user: positiveInt().optional(),
  max_tool_calls_per_day: positiveInt().optional(),
  max_tool_calls_per_month: positiveInt().optional(),
  max_sessions_per_user: positiveInt().optional(),
  max_sessions_per_tenant: positiveInt().optional(),
  max_subscriptions_per_session: positiveInt().optional(),
});

// Globs as in token permissions: `*` any run of characters, `?` one; no whitespace.
const glob = () =>
  z
    .string({ error: 'expected a name or glob such as data_* or tenant://acme/*' })
    .regex(/^\S+$/, { error: 'a glob is a non-empty name without spaces, like data_* or *' });

/** `tools: { allow: [...], deny: [...] }`; deny wins. Omitted allow: everything. */
export const accessListSchema = section({
  allow: z.array(glob(), { error: 'expected a list of names or globs' }).optional(),
  deny: z.array(glob(), { error: 'expected a list of names or globs' }).optional(),
});

export const limitsSchema = section({
  memory_mb: positiveInt().optional(),
  cpu: positiveNumber().optional(),
  pids: positiveInt().optional(),
  open_files: positiveInt().optional(),
});

const httpsUrl = () =>
  text().refine(isHttpsUrl, {
    error: 'expected an https:// URL (plain http only on a loopback address, for testing)',
  });

const jwksUrl = httpsUrl;

// Only an origin: the proxy in front forwards its paths to ours unchanged.
const publicUrl = () =>
  text().superRefine((value, ctx) => {
    if (!isHttpsUrl(value)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'expected the https:// URL clients use, like https://mcp.example.com (plain http only on a loopback address)',
      });
      return;
    }
    const url = new URL(value);
    if (!['', '/'].includes(url.pathname) || url.search !== '' || url.hash !== '') {
      ctx.addIssue({
        code: 'custom',
        message: `expected only an origin, like ${url.origin}: MCP is at /mcp below it`,
      });
    }
  });

function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    if (url.protocol === 'https:') return true;
    return (
      url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname)
    );
  } catch {
    return false;
  }
}

const serverSchema = section({
  host: text().optional(),
  port: port().optional(),
  data_dir: text().optional(),
  max_body_bytes: positiveInt().optional(),
  max_line_bytes: positiveInt().optional(),
  max_json_depth: jsonDepth().optional(),
  allowed_origins: z.array(origin(), { error: 'expected a list of origins' }).optional(),
  allowed_hosts: z
    .array(
      z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, {
        error: 'expected a host name with an optional port, like mcp.example.com or 127.0.0.1:8443',
      }),
      { error: 'expected a list of host names' },
    )
    .optional(),
  session_idle_timeout_ms: positiveInt().optional(),
  max_sessions_per_user: positiveInt().optional(),
  max_sessions_per_tenant: positiveInt().optional(),
  max_unread_bytes: positiveInt().optional(),
  max_uri_length: positiveInt().optional(),
  watchdog_interval_ms: positiveInt().optional(),
  cpu_over_limit: z
    .enum(['throttle', 'record'], {
      error: 'expected "throttle" (SIGSTOP/SIGCONT duty cycle) or "record" (log only)',
    })
    .optional(),
  store: z
    .string({ error: 'expected "sqlite" or a postgres:// URL' })
    .regex(/^(sqlite|postgres(ql)?:\/\/.+)$/, {
      error:
        'expected "sqlite" (the embedded store) or a postgres:// URL, e.g. from an environment variable',
    })
    .optional(),
  workers: intInRange(1, 256, 'expected a number of worker processes from 1 to 256').optional(),
  public_url: publicUrl().optional(),
});

const LOOPBACK_LISTEN = /^(127(\.\d{1,3}){3}|localhost|\[::1\]):\d{1,5}$/;

const telemetrySchema = section({
  retention_days: positiveInt().optional(),
  rollup_retention_days: positiveInt().optional(),
  flush_interval_ms: positiveInt().optional(),
  flush_rows: positiveInt().optional(),
  metrics_listen: z
    .string({ error: 'expected an address like 127.0.0.1:9464' })
    .regex(LOOPBACK_LISTEN, {
      error:
        'metrics_listen serves /metrics without a token, so it must be a loopback address with a port, like 127.0.0.1:9464 or [::1]:9464',
    })
    .optional(),
});

export const auditSchema = section({
  arguments: z.boolean({ error: 'expected true or false' }).optional(),
  max_argument_bytes: positiveInt().optional(),
});

const secret = () =>
  z.string({ error: 'expected a string' }).superRefine((value, ctx) => {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes >= SECRET_MIN_BYTES) return;
    ctx.addIssue({
      code: 'custom',
      message:
        `secret is ${bytes} bytes; it must be at least ${SECRET_MIN_BYTES}. ` +
        'Run `mcp-tenants init` to generate a manifest with a strong secret, ' +
        'or use a longer one (e.g. `openssl rand -base64 48`)',
    });
  });

// A claim's name, or a dotted path into nested claims (`realm_access.roles`).
const claimName = () =>
  text().regex(/^\S+$/, { error: 'expected a claim name, like org_id or realm_access.roles' });

const claimsSchema = section({
  tenant: claimName().optional(),
  tenant_prefix: text().optional(),
  user: claimName().optional(),
  permissions: claimName().optional(),
});

const authSchema = section({
  secret: secret().optional(),
  secret_file: text().optional(),
  issuer: text().optional(),
  audience: z
    .union([text(), z.array(text()).min(1, { error: 'list at least one audience' })], {
      error: 'expected an audience (the resource URL tokens are for), or a list of them',
    })
    .optional(),
  authorization_servers: z
    .array(httpsUrl(), { error: 'expected a list of authorization server URLs' })
    .min(1, { error: 'list at least one authorization server, or leave the key out' })
    .optional(),
  scopes_supported: z
    .array(
      z
        .string()
        .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { error: 'expected an OAuth scope, like tools:*' }),
      {
        error: 'expected a list of scopes',
      },
    )
    .optional(),
  claims: claimsSchema.optional(),
  public_key_file: z
    .union([text(), z.array(text())], { error: 'expected a PEM file, or a list of them' })
    .optional(),
  jwks_url: jwksUrl().optional(),
  jwks_timeout_ms: positiveInt().optional(),
  jwks_cooldown_ms: nonNegativeInt().optional(),
}).superRefine((auth, ctx) => {
  const both = auth.secret !== undefined && auth.secret_file !== undefined;
  const neither = auth.secret === undefined && auth.secret_file === undefined;
  if (both || neither) {
    ctx.addIssue({
      code: 'custom',
      message: both
        ? 'set either secret or secret_file, not both'
        : // biome-ignore lint/suspicious/noTemplateCurlyInString: the manifest's own ${VAR} syntax
          'set exactly one of secret (e.g. secret: ${MCP_TENANTS_SECRET}) or secret_file',
    });
  }
});

const clusterSchema = section({
  lease_ms: intInRange(
    1_000,
    600_000,
    'expected milliseconds from 1000 to 600000 (a lease renews every third of it)',
  ).optional(),
  advertise_url: z
    .url({
      protocol: /^https?$/,
      error: 'expected an http:// or https:// URL, like http://10.0.0.5:7800',
    })
    .optional(),
  key: secret().optional(),
  key_file: text().optional(),
}).superRefine((cluster, ctx) => {
  if (cluster.key !== undefined && cluster.key_file !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['key_file'],
      message: 'set either key or key_file, not both',
    });
  }
});

export const tenantSchema = z.preprocess(
  nullAsEmpty,
  z
    .strictObject({
      name: scalarText().optional(),
      command: text().optional(),
      args: z.array(scalarText(), { error: 'expected a list of strings' }).optional(),
      env: z
        .preprocess(
          nullAsEmpty,
          z.record(
            z.string().regex(ENV_NAME, {
              error:
                'environment variable names are letters, digits and _, not starting with a digit',
            }),
            scalarText(),
          ),
        )
        .optional(),
      quotas: quotasSchema.optional(),
      limits: limitsSchema.optional(),
      request_timeout_ms: positiveInt().optional(),
      isolation: z
        .enum(['tenant', 'session'], {
          error:
            'expected "tenant" (one child shared by all sessions) or "session" (one child per session)',
        })
        .optional(),
      max_sessions: positiveInt().optional(),
      max_instances: intInRange(
        1,
        64,
        'expected a number of children from 1 to 64 (started as load needs them)',
      ).optional(),
      idle_timeout_ms: nonNegativeInt().optional(),
      eager: z.boolean({ error: 'expected true or false' }).optional(),
      min_instances: z
        .union([z.literal(0), z.literal(1)], {
          error: 'expected 0 or 1 (children kept warm; a tenant runs one shared child)',
        })
        .optional(),
      start_timeout_ms: positiveInt().optional(),
      audit: auditSchema.optional(),
      tools: accessListSchema.optional(),
      resources: accessListSchema.optional(),
      prompts: accessListSchema.optional(),
      tools_modules: z.array(text(), { error: 'expected a list of module paths' }).optional(),
      user: systemId('user').optional(),
      group: systemId('group').optional(),
    })
    .superRefine((tenant, ctx) => {
      if (tenant.tools_modules !== undefined && tenant.command !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tools_modules'],
          message:
            'tools_modules are loaded by the built-in tenant server; a tenant with its own command adds tools in its own server',
        });
      }
      if ((tenant.max_instances ?? 1) > 1 && tenant.isolation === 'session') {
        ctx.addIssue({
          code: 'custom',
          path: ['max_instances'],
          message:
            'max_instances adds shared children under load; with isolation: session every session has a child of its own already (max_sessions caps them)',
        });
      }
      if (tenant.args !== undefined && tenant.command === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['args'],
          message: 'args is only allowed together with command (the built-in server takes none)',
        });
      }
    }),
);

const tenantId = z.string().regex(TENANT_ID_PATTERN, {
  error: `invalid tenant id: ids must match ${TENANT_ID_PATTERN.source} (lowercase letters, digits, - and _, at most 63 characters)`,
});

export const manifestSchema = z.strictObject({
  server: serverSchema.optional(),
  auth: authSchema,
  defaults: section({
    quotas: quotasSchema.optional(),
    limits: limitsSchema.optional(),
    request_timeout_ms: positiveInt().optional(),
    idle_timeout_ms: nonNegativeInt().optional(),
    audit: auditSchema.optional(),
    tools: accessListSchema.optional(),
    resources: accessListSchema.optional(),
    prompts: accessListSchema.optional(),
    user: systemId('user').optional(),
    group: systemId('group').optional(),
  }).optional(),
  telemetry: telemetrySchema.optional(),
  cluster: clusterSchema.optional(),
  tenants: z.preprocess(nullAsEmpty, z.record(tenantId, tenantSchema)),
});

export type RawManifest = z.output<typeof manifestSchema>;
export type RawTenant = z.output<typeof tenantSchema>;
