import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from '../../src/auth/sign.js';
import { type ServeProcess, startServe, type TenantSpec } from './serve-process.js';

/**
 * Several `serve` nodes on one store, each with a manifest of its own that
 * differs only in `server.data_dir` (as if each ran on a host of its own).
 */
export interface TestCluster {
  dir: string;
  /** The first node's manifest: the operator commands use it. */
  manifestPath: string;
  manifests: string[];
  nodes: (ServeProcess | undefined)[];
  token(tenant: string, user?: string): Promise<string>;
  /** The node id each node printed at start. */
  nodeIds: string[];
  start(index: number, extraArgs?: string[]): Promise<ServeProcess>;
  cleanup(): Promise<void>;
}

export function nodeIdOf(serve: ServeProcess): string {
  const match = /\bnode: ([a-z0-9-]+)/.exec(serve.stdout());
  if (!match?.[1]) throw new Error(`no node id in:\n${serve.stdout()}`);
  return match[1];
}

export async function createCluster(options: {
  store: string;
  size: number;
  tenants: Record<string, TenantSpec>;
  server?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tenants-cluster-'));
  const secret = randomBytes(32).toString('base64url');
  const manifests: string[] = [];
  for (let i = 0; i < options.size; i++) {
    const data = join(dir, `host${i}`, 'data');
    mkdirSync(data, { recursive: true });
    const path = join(dir, `host${i}`, 'tenants.yaml');
    const manifest = {
      server: { data_dir: data, store: options.store, ...options.server },
      cluster: { lease_ms: 2_000, ...options.cluster },
      auth: { secret },
      tenants: options.tenants,
    };
    writeFileSync(path, JSON.stringify(manifest, null, 2), { mode: 0o600 });
    manifests.push(path);
  }
  const nodes: (ServeProcess | undefined)[] = [];
  const nodeIds: string[] = [];
  return {
    dir,
    manifestPath: manifests[0] as string,
    manifests,
    nodes,
    nodeIds,
    token: (tenant, user = 'alice') =>
      signToken({ secret }, { tenantId: tenant, userId: user, ttlSeconds: 600 }),
    async start(index, extraArgs = []) {
      const serve = await startServe(manifests[index] as string, extraArgs);
      nodes[index] = serve;
      // `--workers` prints the nodes of its workers instead of one node id.
      if (!extraArgs.includes('--workers')) nodeIds[index] = nodeIdOf(serve);
      return serve;
    },
    async cleanup() {
      await Promise.all(nodes.map((node) => node?.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
