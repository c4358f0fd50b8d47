import type { Readable, Writable } from 'node:stream';
import { parseBearer } from '../auth/bearer.js';
import type { TenantContext } from '../auth/context.js';
import { TokenVerifier } from '../auth/verify.js';
import { type HttpFront, startHttpFront } from '../front/http/server.js';
import { type StdioFront, startStdioFront } from '../front/stdio/stdio-front.js';
import type { Manifest } from '../manifest/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { Isolation } from './child-limits.js';
import { startIsolation } from './isolation.js';
import { type RegistryHooks, TenantRegistry } from './tenant-registry.js';

/** How long shutdown waits for requests already in a child. */
const DRAIN_MS = 5_000;

export interface SupervisorOptions {
  manifest: Manifest;
  log: Logger;
  hooks?: RegistryHooks;
}

/**
 * The running supervisor: the tenants' relays plus whichever fronts were
 * started. `close()` stops them in dependency order — fronts first (no new
 * work), then the children.
 */
export class Supervisor {
  readonly registry: TenantRegistry;
  private hostIsolation: Isolation | undefined;
  private verifier: TokenVerifier;
  private currentManifest: Manifest;
  private http: HttpFront | undefined;
  private stdio: StdioFront | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.currentManifest = options.manifest;
    this.verifier = new TokenVerifier(options.manifest.auth);
    this.registry = new TenantRegistry(options.manifest, options.log, {
      ...options.hooks,
      isolation: options.hooks?.isolation ?? (() => this.isolation),
    });
  }

  /** What caps the children's resources on this host: probed (and logged) once, on first need. */
  get isolation(): Isolation {
    this.hostIsolation ??= startIsolation(this.options.manifest.server, this.options.log);
    return this.hostIsolation;
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
      verifier = new TokenVerifier(next.auth);
    } catch (error) {
      log.error('manifest reload refused; keeping the running configuration', {
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
    const before = this.currentManifest.server;
    if (next.server.host !== before.host || next.server.port !== before.port) {
      log.warn('server.host and server.port apply on the next start only');
    }
    this.currentManifest = next;
    this.verifier = verifier;
    const { added, removed, changed } = this.registry.update(next);
    for (const id of removed) this.http?.sessions.deleteTenant(id);
    log.info('manifest reloaded', {
      added: added.join(',') || undefined,
      removed: removed.join(',') || undefined,
      changed: changed.join(',') || undefined,
    });
    return true;
  }

  async authenticate(authorization: string | undefined): Promise<TenantContext> {
    return this.verifier.verify(parseBearer(authorization));
  }

  async startHttp(overrides: { host?: string; port?: number } = {}): Promise<HttpFront> {
    const server = { ...this.options.manifest.server, ...definedOnly(overrides) };
    this.http = await startHttpFront({
      server,
      registry: this.registry,
      isolation: this.isolation.report,
      authenticate: (authorization) => this.authenticate(authorization),
      issuer: this.options.manifest.auth.issuer,
      log: this.options.log,
    });
    this.registry.warmEager();
    return this.http;
  }

  /** Serves one MCP connection on the given streams for the token's tenant. */
  async startStdio(token: string, input: Readable, output: Writable): Promise<StdioFront> {
    const context = await this.verifier.verify(token);
    // Probed once the token is known good, so a refused start prints one line.
    void this.isolation;
    this.stdio = startStdioFront({
      registry: this.registry,
      context,
      input,
      output,
      maxLineBytes: this.options.manifest.server.max_body_bytes,
      log: this.options.log,
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
      this.hostIsolation?.watchdog.stop();
    })();
    return this.closing;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
