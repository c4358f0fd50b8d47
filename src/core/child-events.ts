/**
 * What happens to tenants' children, for telemetry and status. Every callback
 * is optional and must not throw or block: it runs on the supervisor's path.
 */
export interface ChildEvents {
  /**
   * A child answered `initialize`; `startMs` is spawn to ready, `restart`
   * whether the child before it crashed or failed to start.
   */
  started?(tenantId: string, event: { pid: number; startMs: number; restart: boolean }): void;
  /** A child is gone. `limit` names the limit it was killed for, if any. */
  exited?(
    tenantId: string,
    event: { pid: number; reason: string; crashed: boolean; limit?: 'memory' | 'pids' | 'oom' },
  ): void;
  /** A periodic sample of a child's whole process tree. */
  sampled?(tenantId: string, event: { pid: number; cpuSeconds: number; rssBytes: number }): void;
  /** A message on the child's IPC channel (only children that accept one: the built-in server). */
  message?(tenantId: string, event: { pid: number; message: unknown }): void;
}
