import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../../relay/jsonrpc.js';
import type { Caller } from '../../relay/pipeline.js';
import type { RelayLease } from '../../supervisor/tenant-registry.js';
import { HttpSession } from './http-session.js';

/** All open HTTP sessions, with idle expiry. */
export class SessionStore {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly idleTimeoutMs: number) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, idleTimeoutMs));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  create(
    tenantId: string,
    caller: Caller,
    protocolVersion: string,
    capabilities: JsonObject | undefined,
    lease: RelayLease,
  ): HttpSession {
    const session = new HttpSession(
      randomUUID(),
      tenantId,
      caller,
      protocolVersion,
      capabilities,
      lease.relay,
      lease.release,
    );
    this.sessions.set(session.id, session);
    lease.relay.attach(session);
    return session;
  }

  get(id: string): HttpSession | undefined {
    return this.sessions.get(id);
  }

  delete(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
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
