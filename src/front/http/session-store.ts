import { randomUUID } from 'node:crypto';
import type { TenantContext } from '../../auth/context.js';
import type { TokenBindings } from '../../auth/token-bindings.js';
import type { Quotas } from '../../core/config.js';
import type { JsonObject } from '../../core/jsonrpc.js';
import type { RelayLease } from '../../registry/tenants.js';
import { HttpSession } from './http-session.js';
import type { SessionCaps } from './session-caps.js';
import type { UnreadBudget } from './unread-budget.js';

/** All open HTTP sessions, with idle expiry and the expiry of their tokens. */
export class SessionStore {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly tokens: TokenBindings,
    private readonly caps: SessionCaps,
    /** Unread bytes of every stream and backlog of the front together. */
    readonly unread: UnreadBudget,
    /** Ids for new sessions: unguessable, and in a cluster naming their node. */
    private readonly newId: () => string = randomUUID,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, idleTimeoutMs));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Refuses (QUOTA_EXCEEDED) a session past the user's or the tenant's limit; call right before `create`. */
  admit(tenantId: string, userId: string, quotas: Quotas): void {
    this.caps.admit(tenantId, userId, quotas);
  }

  create(
    tenantId: string,
    caller: TenantContext,
    protocolVersion: string,
    capabilities: JsonObject | undefined,
    lease: RelayLease,
  ): HttpSession {
    // The session's token may end it first (revoked, expired); either way it unbinds on close.
    let unbindToken = (): void => {};
    const session = new HttpSession(
      this.newId(),
      tenantId,
      caller,
      protocolVersion,
      capabilities,
      lease.relay,
      this.unread,
      () => {
        unbindToken();
        lease.release();
      },
    );
    this.sessions.set(session.id, session);
    this.caps.opened(tenantId, caller.userId);
    lease.relay.attach(session);
    unbindToken = this.tokens.bind(caller, (error) => {
      session.refuseInFlight(error);
      this.delete(session.id);
    });
    return session;
  }

  get(id: string): HttpSession | undefined {
    return this.sessions.get(id);
  }

  delete(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    this.caps.closed(session.tenantId, session.userId);
    session.close();
    return true;
  }

  /** Ends every session of one tenant (tenant removed or reloaded). */
  deleteTenant(tenantId: string): void {
    for (const session of [...this.sessions.values()]) {
      if (session.tenantId === tenantId) this.delete(session.id);
    }
  }

  closeAll(): void {
    clearInterval(this.sweeper);
    for (const id of [...this.sessions.keys()]) this.delete(id);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleTimeoutMs;
    for (const session of [...this.sessions.values()]) {
      if (session.lastActivity < cutoff) this.delete(session.id);
    }
  }
}
