import { Command } from 'commander';
import { clusterStoreOf } from '../app/cluster-member.js';
import { closeStore, openStore } from '../app/store.js';
import type { Manifest } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { adminBaseUrl, callAdmin, fetchTenantStatus } from '../front/http/admin-client.js';
import { loadManifest } from '../manifest/load.js';
import type { TenantStatus } from '../registry/tenants.js';
import { textTable } from '../telemetry/text-table.js';
import { manifestOption } from './options.js';

interface TenantsOptions {
  manifest: string;
  url?: string;
  json?: boolean;
}

export function tenantsCommand(): Command {
  const command = new Command('tenants')
    .description(
      'list tenants with their state, pid, uptime, sessions and memory, from the running supervisor (else from the manifest)',
    )
    .addOption(manifestOption())
    .option(
      '--url <url>',
      'where the supervisor listens (default: server.host and server.port of the manifest)',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
States: running, starting, stopped (not started yet, or idle-stopped),
backoff (restarting after a crash), quarantined (crash loop; see reset).

Examples:
  $ mcp-tenants tenants -m tenants.yaml
  $ mcp-tenants tenants reset acme -m tenants.yaml`,
    )
    .action((options: TenantsOptions) => listTenants(options));
  command
    .command('reset')
    .description("end a tenant's quarantine: its next request starts the child again")
    .argument('<tenant>', 'tenant id')
    .action((tenant: string, _options: unknown, reset: Command) =>
      // -m and --url belong to `tenants`, wherever they are written.
      resetTenant(tenant, reset.optsWithGlobals<TenantsOptions>()),
    );
  return command;
}

async function listTenants(options: TenantsOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const baseUrl = adminBaseUrl(manifest, options.url);
  const live = await fetchTenantStatus(manifest, baseUrl);
  const clustered = manifest.server.store.kind === 'postgres';
  if (!live) {
    process.stderr.write(
      `no supervisor answers at ${baseUrl}; showing the manifest${clustered ? " and the store's leases" : ''}\n`,
    );
  }
  let tenants = live ?? fromManifest(manifest);
  // From any machine that reaches the store: which node serves each tenant.
  if (clustered) tenants = await withLeases(manifest, tenants);
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ running: live !== undefined, tenants }, null, 2)}\n`
      : table(tenants),
  );
}

async function resetTenant(tenant: string, options: TenantsOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const baseUrl = adminBaseUrl(manifest, options.url);
  const answer = await callAdmin(
    manifest,
    baseUrl,
    'POST',
    `/admin/tenants/${encodeURIComponent(tenant)}/reset`,
  );
  if (answer === undefined) {
    throw new McpTenantsError(
      ErrorCode.CHILD_UNAVAILABLE,
      `no supervisor answers at ${baseUrl}; nothing to reset`,
    );
  }
  process.stdout.write(
    `tenant ${tenant}: crash history cleared; the next request starts its child\n`,
  );
}

/** Each tenant's node from the store's valid leases (a node's own answer may lag its heartbeat). */
async function withLeases(manifest: Manifest, tenants: TenantStatus[]): Promise<TenantStatus[]> {
  const store = await openStore(manifest, {
    log: createLogger({ level: 'warn' }),
    purpose: 'tenants',
    readonly: true,
  });
  try {
    const leases = await clusterStoreOf(store, true).leases();
    const holders = new Map(
      leases.filter((lease) => lease.valid).map((lease) => [lease.tenant, lease.node_id]),
    );
    return tenants.map((tenant) => ({ ...tenant, node: holders.get(tenant.id) ?? null }));
  } finally {
    await closeStore(store);
  }
}

function fromManifest(manifest: Manifest): TenantStatus[] {
  return [...manifest.tenants.values()].map((tenant) => ({
    id: tenant.id,
    name: tenant.name,
    state: 'not running',
    pid: null,
    sessions: 0,
    restarts: 0,
    crashes: 0,
    last_crash: null,
    limits: null,
    started_at: null,
    rss_bytes: null,
    uid: tenant.run_as?.uid ?? null,
    gid: tenant.run_as?.gid ?? null,
  }));
}

function table(tenants: TenantStatus[]): string {
  const rows = tenants.map((tenant) => [
    tenant.id,
    tenant.state,
    tenant.pid === null ? '-' : String(tenant.pid),
    tenant.started_at ? uptime(Date.now() - Date.parse(tenant.started_at)) : '-',
    String(tenant.sessions),
    tenant.rss_bytes === null ? '-' : `${(tenant.rss_bytes / 1024 / 1024).toFixed(0)} MB`,
    String(tenant.restarts),
  ]);
  const header = ['TENANT', 'STATE', 'PID', 'UPTIME', 'SESSIONS', 'MEMORY', 'RESTARTS'];
  // Elastic tenants: how many children each runs now.
  if (tenants.some((tenant) => tenant.instances !== undefined)) {
    header.push('INSTANCES');
    for (const [i, tenant] of tenants.entries()) rows[i]?.push(String(tenant.instances ?? 1));
  }
  // In a cluster: which node serves each tenant.
  if (tenants.some((tenant) => tenant.node !== undefined)) {
    header.push('NODE');
    for (const [i, tenant] of tenants.entries()) rows[i]?.push(tenant.node ?? '-');
  }
  // Only where some tenant runs as a user of its own (`user:`): "-" is the supervisor's.
  if (tenants.some((tenant) => tenant.uid !== null)) {
    header.push('UID');
    for (const [i, tenant] of tenants.entries()) {
      rows[i]?.push(tenant.uid === null ? '-' : String(tenant.uid));
    }
  }
  // Text columns (tenant, state) left, numbers right.
  return textTable(header, rows, 2);
}

function uptime(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}
