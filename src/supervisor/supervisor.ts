import type { Readable, Writable } from 'node:stream';
import { parseBearer } from '../auth/bearer.js';
import type { TenantContext } from '../auth/context.js';
import { TokenVerifier } from '../auth/verify.js';
import { type HttpFront, startHttpFront } from '../front/http/server.js';
import { type StdioFront, startStdioFront } from '../front/stdio/stdio-front.js';
import type { Manifest } from '../manifest/types.js';
import type { Logger } from '../telemetry/logger.js';
import { TenantRegistry } from './tenant-registry.js';

export interface SupervisorOptions {
  manifest: Manifest;
  log: Logger;
}

/**
 * The running supervisor: the tenants' relays plus whichever fronts were
 * started. `close()` stops them in dependency order — fronts first (no new
 * work), then the children.
 */
export class Supervisor {
  readonly registry: TenantRegistry;
  readonly verifier: TokenVerifier;
  private http: HttpFront | undefined;
  private stdio: StdioFront | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.verifier = new TokenVerifier(options.manifest.auth);
    this.registry = new TenantRegistry(options.manifest, options.log);
  }

  get manifest(): Manifest {
    return this.options.manifest;
  }

  async authenticate(authorization: string | undefined): Promise<TenantContext> {
    return this.verifier.verify(parseBearer(authorization));
  }

  async startHttp(overrides: { host?: string; port?: number } = {}): Promise<HttpFront> {
    const server = { ...this.options.manifest.server, ...definedOnly(overrides) };
    this.http = await startHttpFront({
      server,
      registry: this.registry,
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
      this.stdio?.close();
      await this.http?.close();
      await this.registry.close();
    })();
    return this.closing;
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
