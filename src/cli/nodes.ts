import { Command } from 'commander';
import { clusterStoreOf } from '../app/cluster-member.js';
import { closeStore, openStore } from '../app/store.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { loadManifest } from '../manifest/load.js';
import { textTable } from '../telemetry/text-table.js';
import { manifestOption } from './options.js';

const NO_NODES =
  'no nodes: none has run on this store yet (a cluster forms on a PostgreSQL store, or with serve --workers)\n';

interface NodesOptions {
  manifest: string;
  json?: boolean;
}

export function nodesCommand(): Command {
  return new Command('nodes')
    .description(
      "list the cluster's nodes from the store: heartbeat, tenants served, sessions and children",
    )
    .addOption(manifestOption())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
A node is one \`serve\` process (or one of its --workers) on the manifest's
store. "live" means it heartbeat within cluster.lease_ms; a silent node's
tenants are taken over by the others once its leases lapse.

Examples:
  $ mcp-tenants nodes -m tenants.yaml
  $ mcp-tenants nodes -m tenants.yaml --json`,
    )
    .action((options: NodesOptions) => listNodes(options));
}

async function listNodes(options: NodesOptions): Promise<void> {
  const manifest = loadManifest(options.manifest);
  const log = createLogger({ level: 'warn' });
  const store = await openStore(manifest, { log, purpose: 'nodes', readonly: true }).catch(
    (error: unknown) => {
      // The embedded store not made yet: no node has run.
      if (error instanceof McpTenantsError && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    },
  );
  if (!store) {
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ lease_ms: manifest.cluster.lease_ms, nodes: [] })}\n`
        : NO_NODES,
    );
    return;
  }
  try {
    const cluster = clusterStoreOf(store, true);
    const [nodes, leases] = await Promise.all([cluster.nodes(), cluster.leases()]);
    const leaseMs = manifest.cluster.lease_ms;
    const view = nodes.map((node) => ({
      node: node.node_id,
      url: node.url || null,
      host: node.host,
      pid: node.pid,
      live: node.heartbeat_age_ms < leaseMs,
      heartbeat_age_ms: Math.round(node.heartbeat_age_ms),
      started_at: node.started_at,
      tenants: leases
        .filter((lease) => lease.valid && lease.node_id === node.node_id)
        .map((lease) => lease.tenant),
      sessions: node.load.sessions ?? 0,
      children: node.load.children ?? 0,
    }));
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ lease_ms: leaseMs, nodes: view }, null, 2)}\n`);
      return;
    }
    if (view.length === 0) {
      process.stdout.write(NO_NODES);
      return;
    }
    const rows = view.map((node) => [
      node.node,
      node.live ? 'live' : 'silent',
      `${(node.heartbeat_age_ms / 1000).toFixed(1)}s`,
      node.url ?? '(stdio)',
      `${node.host}:${node.pid}`,
      String(node.tenants.length),
      String(node.sessions),
      String(node.children),
    ]);
    process.stdout.write(
      textTable(
        ['NODE', 'STATE', 'HEARTBEAT', 'URL', 'HOST:PID', 'TENANTS', 'SESSIONS', 'CHILDREN'],
        rows,
        5,
      ),
    );
  } finally {
    await closeStore(store);
  }
}
