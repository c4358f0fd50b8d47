import { ErrorCode, McpTenantsError } from '../errors.js';
import type { Manifest } from '../manifest/types.js';
import { TenantRelay } from '../relay/tenant-relay.js';
import type { Logger } from '../telemetry/logger.js';
import { spawnPlan } from './spawn-plan.js';

/**
 * The tenants of the running manifest and their relays. A relay (and so a
 * child process) exists only once a tenant is first used.
 */
export class TenantRegistry {
  private readonly relays = new Map<string, TenantRelay>();
  private closing: Promise<void> | undefined;

  constructor(
    private manifest: Manifest,
    private readonly log: Logger,
  ) {}

  get tenantIds(): string[] {
    return [...this.manifest.tenants.keys()];
  }

  has(tenantId: string): boolean {
    return this.manifest.tenants.has(tenantId);
  }

  /** The tenant's relay, created on first use; unknown tenants are refused. */
  relayFor(tenantId: string): TenantRelay {
    const existing = this.relays.get(tenantId);
    if (existing) return existing;
    if (this.closing) {
      throw new McpTenantsError(ErrorCode.SHUTTING_DOWN, 'the supervisor is shutting down');
    }
    const tenant = this.manifest.tenants.get(tenantId);
    if (!tenant) {
      throw new McpTenantsError(
        ErrorCode.TENANT_UNKNOWN,
        `tenant "${tenantId}" is not in the manifest; add it with \`mcp-tenants add-tenant ${tenantId}\``,
      );
    }
    const relay = new TenantRelay({
      tenant,
      plan: () => spawnPlan(tenant, this.manifest.server.data_dir),
      maxLineBytes: this.manifest.server.max_line_bytes,
      log: this.log.with({ tenant: tenantId }),
    });
    this.relays.set(tenantId, relay);
    return relay;
  }

  /** Running relays, for status and tests. */
  activeRelays(): TenantRelay[] {
    return [...this.relays.values()];
  }

  /** Stops every child in parallel. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.all([...this.relays.values()].map((relay) => relay.close())).then(
      () => undefined,
    );
    return this.closing;
  }
}
