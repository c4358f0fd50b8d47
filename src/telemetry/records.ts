import type { Outcome } from './outcome.js';

/**
 * One request as the relay saw it: the few fields recorded and the sizes,
 * never the messages themselves (a queued record must not keep a client's
 * or a child's message alive, nor need serialising it later).
 */
export interface RequestRecord {
  kind: 'request';
  /** Epoch ms when the request entered the relay. */
  ts: number;
  tenant: string;
  user: string;
  method: string;
  /** Tool or prompt name, or resource URI. */
  name: string | null;
  outcome: Outcome;
  /** JSON-RPC error code, for errors. */
  errorCode: number | null;
  latencyUs: number;
  traceId: string | null;
  /** Bytes of the request and its answer, as they entered the supervisor (see wire-bytes.ts). */
  requestBytes: number;
  responseBytes: number;
}

/** A child started or exited. */
export interface ChildRecord {
  kind: 'child';
  ts: number;
  tenant: string;
  pid: number;
  event: 'start' | 'exit';
  /** start: spawn to ready, in ms. */
  startMs: number | null;
  /** start: it followed a crash of the tenant's previous child. */
  restart: boolean;
  crashed: boolean;
  /** exit: the limit it was killed for (memory, pids, oom). */
  limit: string | null;
  reason: string | null;
}

/** One entry of the audit trail, before it is chained. */
export interface AuditEntry {
  kind: 'audit';
  ts: number;
  /** The tenant's id, or `-` for the supervisor's own chain (unverifiable callers, operators). */
  tenant: string;
  /** User id, `operator`, `supervisor`, or `anonymous`. */
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  detail: Record<string, unknown> | null;
}

export type TelemetryRecord = RequestRecord | ChildRecord | AuditEntry;

/** Process figures of one child over one minute, summed by the usage meter. */
export interface UsageDelta {
  tenant: string;
  pid: number;
  /** Start of the minute, epoch ms. */
  minute: number;
  cpuSeconds: number;
  /** ∫ RSS dt, for MB-hours. */
  rssByteSeconds: number;
  sampledSeconds: number;
  rssPeak: number;
  samples: number;
  /** What the child itself reported over IPC (built-in server). */
  toolCalls: number;
  toolErrors: number;
  toolMs: number;
  dbBytes: number | null;
  dbRows: number | null;
}

/**
 * Adds `other` into `into` (same tenant, pid and minute): sums, the higher
 * peak, and the database size of whichever of the two is newer, when it has one.
 */
export function sumUsage(into: UsageDelta, other: UsageDelta, otherIsNewer: boolean): void {
  into.cpuSeconds += other.cpuSeconds;
  into.rssByteSeconds += other.rssByteSeconds;
  into.sampledSeconds += other.sampledSeconds;
  into.rssPeak = Math.max(into.rssPeak, other.rssPeak);
  into.samples += other.samples;
  into.toolCalls += other.toolCalls;
  into.toolErrors += other.toolErrors;
  into.toolMs += other.toolMs;
  const [newer, older] = otherIsNewer ? [other, into] : [into, other];
  into.dbBytes = newer.dbBytes ?? older.dbBytes;
  into.dbRows = newer.dbRows ?? older.dbRows;
}

/** The audit chain of events that belong to no tenant. */
export const SUPERVISOR_CHAIN = '-';
