import type { Readable, Writable } from 'node:stream';
import { parseBearer } from '../auth/bearer.js';
import type { TenantContext } from '../auth/context.js';
import { TokenBindings } from '../auth/token-bindings.js';
import { DEFAULT_CLOCK_TOLERANCE_SECONDS, TokenVerifier } from '../auth/verify.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { newNodeId } from '../cluster/node-id.js';
import type { Manifest, TenantConfig } from '../core/config.js';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type MetricsServer, startMetricsServer } from '../front/http/metrics-server.js';
import { type HttpFront, startHttpFront } from '../front/http/server.js';
import { type StdioFront, startStdioFront } from '../front/stdio/stdio-front.js';
import type { HostLimits } from '../process/host-limits.js';
import { startHostLimits } from '../process/host-limits.js';
import { type RegistryHooks, TenantRegistry } from '../registry/tenant-registry.js';
import type { StoreBackend } from '../store/backend.js';
import { TenantDataRoles } from '../store/tenant-data.js';
import { SUPERVISOR_CHAIN } from '../telemetry/records.js';
import { startTracing } from '../telemetry/start-tracing.js';
import { Telemetry } from '../telemetry/telemetry.js';
import type { Tracing } from '../telemetry/tracing.js';
import { isClustered, joinCluster, peerRouting } from './cluster-member.js';
import { RequestGuard } from './request-guard.js';
import { buildRequestStages } from './request-stages.js';
import { closeStore, openStore } from './store.js';

/** How long shutdown waits for requests already in a child. */
const DRAIN_MS = 5_000;

export interface SupervisorOptions {
  manifest: Manifest;
  log: Logger;
  hooks?: RegistryHooks;
  /** One of `--workers` processes: a node of a cluster even on the embedded store. */
  worker?: boolean;
}

/**
 * The running supervisor: the tenants' relays plus whichever fronts were
 * started. `close()` stops them in dependency order — the fronts stop taking
 * work, requests in the children drain, sessions and then the children end,
 * then the metrics listener, and last telemetry is written and the database
 * closed.
 */
export class Supervisor {
  readonly registry: TenantRegistry;
  private hostLimitsProbe: HostLimits | undefined;
  private verifier: TokenVerifier;
  private currentManifest: Manifest;
  private http: HttpFront | undefined;
  private stdio: StdioFront | undefined;
  private closing: Promise<void> | undefined;
  /** Where telemetry, the audit trail, usage and revocations live; opened first, closed last. */
  readonly store: StoreBackend;
  readonly telemetry: Telemetry;
  /** Revocations, permissions and quotas (their counters live in the database). */
  readonly guard: RequestGuard;
  private metricsServer: MetricsServer | undefined;
  /** Sessions and streams held open for a token, ended when it expires or is revoked. */
  private readonly tokens = new TokenBindings(DEFAULT_CLOCK_TOLERANCE_SECONDS * 1000);
  /** This supervisor's id as a node of a cluster (printed at start, in `tenants` and `nodes`). */
  readonly nodeId = newNodeId();
  /** Set once the node has joined, when the supervisor is one node of several. */
  private cluster: ClusterNode | undefined;
  private readonly clustered: boolean;
  /** The built-in server's data on PostgreSQL: a role and a schema per tenant. */
  private readonly tenantData: TenantDataRoles | undefined;
  /** OpenTelemetry traces of client requests; off unless the environment asks for them. */
  private readonly tracing: Tracing;
  private readonly credentials = new Map<
    string,
    { epoch: number; env: Promise<Record<string, string>> }
  >();

  /** Opens the manifest's store (migrating a PostgreSQL one), then wires the supervisor on it. */
  static async open(options: SupervisorOptions): Promise<Supervisor> {
    const store = await openStore(options.manifest, { log: options.log, purpose: 'serve' });
    // Never rejects: a tracing that cannot start is logged and stays off.
    const tracing = await startTracing(options.log);
    let supervisor: Supervisor;
    try {
      supervisor = new Supervisor(options, store, tracing);
    } catch (error) {
      await tracing.close();
      await closeStore(store);
      throw error;
    }
    try {
      // The revocation list is read before the first request is checked against it.
      await supervisor.guard.ready();
    } catch (error) {
      await supervisor.close();
      throw error;
    }
    return supervisor;
  }

  private constructor(
    private readonly options: SupervisorOptions,
    store: StoreBackend,
    tracing: Tracing,
  ) {
    this.tracing = tracing;
    this.currentManifest = options.manifest;
    this.store = store;
    this.clustered = isClustered(options.manifest, options.worker ?? false);
    this.tenantData = store.kind === 'postgres' ? new TenantDataRoles(store.pg) : undefined;
    this.verifier = this.newVerifier(options.manifest);
    this.guard = new RequestGuard({
      store,
      log: options.log,
      dataDir: () => this.currentManifest.server.data_dir,
      maxUriLength: () => this.currentManifest.server.max_uri_length,
    });
    this.guard.onRevoked((jti) => {
      const ended = this.tokens.revoked(jti);
      if (ended > 0)
        options.log.info('revoked token: its sessions and streams are closed', { jti, ended });
    });
    this.telemetry = new Telemetry({
      store,
      metricLabels: this.clustered ? { node: this.nodeId } : undefined,
      config: options.manifest.telemetry,
      log: options.log,
      isTenant: (id) => this.registry.has(id),
    });
    this.registry = new TenantRegistry(options.manifest, options.log, {
      ...options.hooks,
      stages:
        options.hooks?.stages ??
        buildRequestStages({ telemetry: this.telemetry, guard: this.guard }),
      events: options.hooks?.events ?? this.telemetry.events,
      hostLimits: options.hooks?.hostLimits ?? (() => this.hostLimits),
      ...(this.clustered
        ? {
            childEnv: (tenant) => this.childEnv(tenant),
            nodeOf: (tenantId) => this.cluster?.ownerOf(tenantId) ?? null,
          }
        : {}),
    });
  }

  /**
   * What a child starting here gets from the cluster: the epoch of this
   * node's lease on its tenant (the lease first: nothing is set up for a
   * tenant another node serves) and, for the built-in server on PostgreSQL,
   * its tenant's own credentials. Those are made once per lease epoch, so
   * the children of one tenant (`isolation: session`) share one password.
   */
  private async childEnv(tenant: TenantConfig): Promise<Record<string, string>> {
    const cluster = this.cluster;
    if (!cluster) {
      throw new McpTenantsError(
        ErrorCode.NODE_UNAVAILABLE,
        'this node is still joining its cluster; retry',
      );
    }
    const epoch = await cluster.leaseFor(tenant.id);
    const env = { MCP_TENANT_LEASE_EPOCH: String(epoch) };
    if (tenant.command !== undefined || !this.tenantData) return env;
    let made = this.credentials.get(tenant.id);
    if (made?.epoch !== epoch) {
      made = { epoch, env: this.tenantData.credentials(tenant.id) };
      this.credentials.set(tenant.id, made);
      const mine = made;
      // A failure is retried at the next start, unless a newer epoch's credentials replaced it.
      made.env.catch(() => {
        if (this.credentials.get(tenant.id) === mine) this.credentials.delete(tenant.id);
      });
    }
    try {
      return { ...(await made.env), ...env };
    } catch (error) {
      throw this.store.kind === 'postgres' ? this.store.pg.explain(error) : error;
    }
  }

  /**
   * Where peers reach this node: `cluster.advertise_url`; a worker, at its
   * own port on that host (or on its bind address); else its listen URL.
   */
  private advertiseUrl(front: HttpFront): string {
    const configured = this.options.manifest.cluster.advertise_url;
    if (front.peerUrl !== undefined) {
      if (configured === undefined) return front.peerUrl;
      const url = new URL(configured);
      url.port = new URL(front.peerUrl).port;
      return url.origin;
    }
    if (configured !== undefined) return new URL(configured).origin;
    const host = this.options.manifest.server.host;
    if (this.clustered && (host === '0.0.0.0' || host === '::')) {
      this.options.log.warn(
        'server.host is a wildcard and cluster.advertise_url is unset: peers on other hosts cannot reach this node at its loopback URL; set cluster.advertise_url to an address they reach',
      );
    }
    return new URL(front.url).origin;
  }

  /** Joins the cluster (when clustered) under the URL peers reach this node at. */
  private async join(advertiseUrl: string): Promise<void> {
    if (!this.clustered || this.cluster) return;
    this.cluster = await joinCluster({
      manifest: this.currentManifest,
      store: this.store,
      nodeId: this.nodeId,
      advertiseUrl,
      registry: this.registry,
      endSessions: (tenantId) => this.http?.sessions.deleteTenant(tenantId),
      log: this.options.log,
    });
  }

  /** Whether this supervisor is one node of a cluster. */
  get isClusterNode(): boolean {
    return this.clustered;
  }

  /** What caps the children's resources on this host: probed (and logged) once, on first need. */
  get hostLimits(): HostLimits {
    this.hostLimitsProbe ??= startHostLimits(this.options.manifest.server, this.options.log);
    return this.hostLimitsProbe;
  }

  get manifest(): Manifest {
    return this.currentManifest;
  }

  /**
   * Re-reads the manifest. An invalid one is refused with the error logged,
   * and the running configuration stays; other tenants' sessions are never
   * dropped. Returns false when the reload was refused.
   */
  reload(load: () => Manifest): boolean {
    const log = this.options.log;
    let next: Manifest;
    let verifier: TokenVerifier;
    try {
      next = load();
      verifier = this.newVerifier(next);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      log.error('manifest reload refused; keeping the running configuration', { error: reason });
      this.telemetry.audit({
        ...{ tenant: SUPERVISOR_CHAIN, actor: 'manifest', action: 'manifest_reload' },
        ...{ target: null, outcome: 'refused', detail: { error: reason.slice(0, 500) } },
      });
      return false;
    }
    const before = this.currentManifest.server;
    const restartOnly = (
      [
        'host',
        'port',
        'store',
        'workers',
        'public_url',
        'allowed_hosts',
        'allowed_origins',
      ] as const
    )
      .filter((key) => JSON.stringify(next.server[key]) !== JSON.stringify(before[key]))
      .map((key) => `server.${key}`);
    if (JSON.stringify(next.cluster) !== JSON.stringify(this.currentManifest.cluster)) {
      restartOnly.push('cluster');
    }
    if (restartOnly.length > 0) {
      log.warn('these settings apply on the next start only', { settings: restartOnly.join(', ') });
    }
    this.currentManifest = next;
    this.verifier = verifier;
    const { added, removed, changed } = this.registry.update(next);
    for (const id of removed) this.http?.sessions.deleteTenant(id);
    this.telemetry.manifestReloaded({ added, removed, changed });
    log.info('manifest reloaded', {
      added: added.join(',') || undefined,
      removed: removed.join(',') || undefined,
      changed: changed.join(',') || undefined,
    });
    return true;
  }

  /** Tokens are checked against the `jti` deny list on every request, cached or not. */
  private newVerifier(manifest: Manifest): TokenVerifier {
    return new TokenVerifier(manifest.auth, {
      isRevoked: (jti) => this.guard.revocations.has(jti),
    });
  }

  async authenticate(authorization: string | undefined): Promise<TenantContext> {
    return this.verifier.verify(parseBearer(authorization));
  }

  /** Expiry and revocation, again, for a context verified earlier. */
  recheck(context: TenantContext): void {
    this.verifier.recheck(context);
  }

  async startHttp(overrides: { host?: string; port?: number } = {}): Promise<HttpFront> {
    const server = { ...this.options.manifest.server, ...definedOnly(overrides) };
    this.http = await startHttpFront({
      server,
      registry: this.registry,
      hostLimits: this.hostLimits.report,
      authenticate: (authorization) => this.authenticate(authorization),
      recheck: (context) => this.recheck(context),
      tokens: this.tokens,
      oauth: () => this.currentManifest.auth,
      secret: () => this.currentManifest.auth.secret,
      figures: (tenantId) => this.telemetry.recentFigures(tenantId),
      metrics: (maySee) => this.renderMetrics(maySee),
      onTokenRefused: (refusal) => this.telemetry.tokenRefused(refusal),
      audit: (event) => this.telemetry.audit(event),
      peers: this.clustered ? peerRouting(() => this.cluster, this.nodeId) : undefined,
      // Workers share one port; each also listens on its own, where peers reach it.
      peerListenHost: this.options.worker ? server.host : undefined,
      tracing: this.tracing,
      log: this.options.log,
    });
    try {
      await this.join(this.advertiseUrl(this.http));
    } catch (error) {
      await this.http.close();
      throw error;
    }
    await this.startMetricsListener();
    this.registry.warmEager();
    return this.http;
  }

  /** Where `telemetry.metrics_listen` serves /metrics, when it is set. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  private renderMetrics(maySee: (tenantId: string) => boolean): string {
    const children = this.registry.status().map((tenant) => ({
      tenant: tenant.id,
      up: tenant.state === 'running',
      sessions: tenant.sessions,
      rssBytes: tenant.rss_bytes,
    }));
    return this.telemetry.metrics.render(maySee, children);
  }

  private async startMetricsListener(): Promise<void> {
    const listen = this.options.manifest.telemetry.metrics_listen;
    if (listen === undefined || this.metricsServer) return;
    this.metricsServer = await startMetricsServer(listen, (maySee) => this.renderMetrics(maySee));
    this.options.log.info('serving /metrics without a token', { url: this.metricsServer.url });
  }

  /** Serves one MCP connection on the given streams for the token's tenant. */
  async startStdio(token: string, input: Readable, output: Writable): Promise<StdioFront> {
    const context = await this.verifier.verify(token).catch((error: unknown) => {
      if (error instanceof McpTenantsError) {
        this.telemetry.tokenRefused({ token, error, path: 'stdio', remoteAddress: undefined });
      }
      throw error;
    });
    // Probed once the token is known good, so a refused start prints one line.
    void this.hostLimits;
    // Holds leases like any node, but serves no peer: nothing is routed to it.
    await this.join('');
    this.stdio = startStdioFront({
      registry: this.registry,
      context,
      input,
      output,
      maxLineBytes: this.options.manifest.server.max_body_bytes,
      maxJsonDepth: this.options.manifest.server.max_json_depth,
      log: this.options.log,
      recheck: (checked) => this.recheck(checked),
      tokens: this.tokens,
      tracing: this.tracing,
    });
    return this.stdio;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // No new connections; requests already in a child may finish (bounded);
      // then sessions end, then the children stop, all in parallel.
      this.http?.stopAccepting();
      await this.registry.drain(DRAIN_MS);
      this.stdio?.close();
      await this.http?.close();
      await this.registry.close();
      // Its leases end now, so peers take its tenants at once.
      await this.cluster?.close();
      this.hostLimitsProbe?.watchdog.stop();
      // Every request has ended: its spans go out now (bounded; an absent collector costs that much).
      await this.tracing.close();
      await this.metricsServer?.close();
      // Last: what the children's exits added is written, then the database closes.
      await this.guard.close();
      await this.telemetry.close();
      await closeStore(this.store);
    })();
    return this.closing;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
