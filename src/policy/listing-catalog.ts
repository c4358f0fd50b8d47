/** Most names remembered per tenant and kind; a child listing more is cut anyway. */
const MAX_REMEMBERED = 10_000;

interface CappedListing {
  /** The names of the listing being read, from its first page on. */
  building: Set<string>;
  /** Set once a listing reached the cap: the only names that may be used. */
  exposed: Set<string> | undefined;
}

interface TenantListing {
  capped: { tools: CappedListing; resources: CappedListing };
  /** Tools the child annotates `readOnlyHint: true`. */
  readOnly: Set<string>;
}

export type CappedKind = 'tools' | 'resources';

/**
 * What the supervisor has learnt from the tenants' own listings: which names
 * made the `max_tools` / `max_resources` cut when the child lists more (a
 * call to any other name is refused), and which tools only read (a tenant
 * over its storage quota may still use those). Each listing from its first
 * page on replaces what the previous one taught.
 */
export class ListingCatalog {
  private readonly tenants = new Map<string, TenantListing>();

  /**
   * Records one page: `kept` are its names within the cap, `offset` how many
   * the child listed before it; `end` says the listing ended here, within the
   * cap (`'complete'`) or at it (`'cap'`).
   */
  recordPage(
    tenantId: string,
    kind: CappedKind,
    offset: number,
    kept: readonly string[],
    end: 'complete' | 'cap' | undefined,
  ): void {
    const listing = this.listing(tenantId).capped[kind];
    if (offset === 0) listing.building = new Set();
    for (const name of kept) if (listing.building.size < MAX_REMEMBERED) listing.building.add(name);
    if (end === 'complete') listing.exposed = undefined;
    if (end === 'cap') listing.exposed = listing.building;
  }

  /** True when the tenant lists more than its cap and this name is not among the first. */
  isHidden(tenantId: string, kind: CappedKind, name: string): boolean {
    const exposed = this.tenants.get(tenantId)?.capped[kind].exposed;
    return exposed !== undefined && !exposed.has(name);
  }

  recordTool(tenantId: string, name: string, readOnly: boolean): void {
    const set = this.listing(tenantId).readOnly;
    if (!readOnly) set.delete(name);
    else if (set.size < MAX_REMEMBERED) set.add(name);
  }

  isReadOnlyTool(tenantId: string, name: string): boolean {
    return this.tenants.get(tenantId)?.readOnly.has(name) ?? false;
  }

  private listing(tenantId: string): TenantListing {
    let listing = this.tenants.get(tenantId);
    if (!listing) {
      const capped = (): CappedListing => ({ building: new Set(), exposed: undefined });
      listing = { capped: { tools: capped(), resources: capped() }, readOnly: new Set() };
      this.tenants.set(tenantId, listing);
    }
    return listing;
  }
}
