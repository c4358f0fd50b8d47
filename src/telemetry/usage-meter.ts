import type { ChildEvents } from '../core/child-events.js';
import { parseChildFigures } from '../core/child-figures.js';
import { type ChildRecord, sumUsage, type UsageDelta } from './records.js';
import { floorTo, MINUTE_MS } from './time-window.js';

/** A gap between samples longer than this is not counted (sampling stopped, clock jumped). */
const MAX_SAMPLE_GAP_S = 60;

interface ChildState {
  lastSampleAt: number;
  lastCpuSeconds: number;
}

export interface UsageMeterOptions {
  now: () => number;
  /** Where start and exit records go (the batch writer). */
  record: (record: ChildRecord) => void;
  /** Called for every sample with what it adds, for `/metrics`. */
  onSample?: (tenant: string, cpuDelta: number, rssBytes: number) => void;
}

/**
 * Turns the children's lifecycle and watchdog samples into usage: CPU
 * seconds (deltas of the tree's cumulative CPU), RSS integrated over time
 * (memory MB-hours), RSS peak, starts, restarts after a crash, limit kills.
 * Samples are summed per child and minute in memory and drained by the writer.
 */
export class UsageMeter implements ChildEvents {
  private readonly children = new Map<number, ChildState>();
  private buckets = new Map<string, UsageDelta>();

  constructor(private readonly options: UsageMeterOptions) {}

  started(tenantId: string, event: { pid: number; startMs: number; restart: boolean }): void {
    const now = this.options.now();
    this.children.set(event.pid, { lastSampleAt: now, lastCpuSeconds: 0 });
    this.options.record({
      kind: 'child',
      ts: now,
      tenant: tenantId,
      pid: event.pid,
      event: 'start',
      startMs: event.startMs,
      restart: event.restart,
      crashed: false,
      limit: null,
      reason: null,
    });
  }

  exited(
    tenantId: string,
    event: { pid: number; reason: string; crashed: boolean; limit?: string },
  ): void {
    this.children.delete(event.pid);
    this.options.record({
      kind: 'child',
      ts: this.options.now(),
      tenant: tenantId,
      pid: event.pid,
      event: 'exit',
      startMs: null,
      restart: false,
      crashed: event.crashed,
      limit: event.limit ?? null,
      reason: event.reason.slice(0, 500),
    });
  }

  sampled(tenantId: string, event: { pid: number; cpuSeconds: number; rssBytes: number }): void {
    const now = this.options.now();
    const state = this.children.get(event.pid) ?? { lastSampleAt: now, lastCpuSeconds: 0 };
    const seconds = (now - state.lastSampleAt) / 1000;
    const dt = seconds > 0 && seconds <= MAX_SAMPLE_GAP_S ? seconds : 0;
    const cpu = Math.max(0, event.cpuSeconds - state.lastCpuSeconds);
    this.children.set(event.pid, { lastSampleAt: now, lastCpuSeconds: event.cpuSeconds });
    const bucket = this.bucket(tenantId, event.pid, now);
    bucket.cpuSeconds += cpu;
    bucket.rssByteSeconds += event.rssBytes * dt;
    bucket.sampledSeconds += dt;
    bucket.rssPeak = Math.max(bucket.rssPeak, event.rssBytes);
    bucket.samples += 1;
    this.options.onSample?.(tenantId, cpu, event.rssBytes);
  }

  /** A message from the child's IPC channel; only the figures message is understood. */
  message(tenantId: string, event: { pid: number; message: unknown }): void {
    const figures = parseChildFigures(event.message);
    if (!figures) return;
    const bucket = this.bucket(tenantId, event.pid, this.options.now());
    bucket.toolCalls += figures.tool_calls;
    bucket.toolErrors += figures.tool_errors;
    bucket.toolMs += figures.tool_ms;
    bucket.dbBytes = figures.db_bytes;
    bucket.dbRows = figures.rows;
  }

  /** Everything summed since the last drain. */
  drain(): UsageDelta[] {
    if (this.buckets.size === 0) return [];
    const deltas = [...this.buckets.values()];
    this.buckets = new Map();
    return deltas;
  }

  /** Deltas a failed write could not store: summed back in for the next attempt. */
  putBack(deltas: readonly UsageDelta[]): void {
    for (const delta of deltas) {
      // What comes back is older than what the bucket gathered since.
      sumUsage(this.bucket(delta.tenant, delta.pid, delta.minute), delta, false);
    }
  }

  private bucket(tenant: string, pid: number, now: number): UsageDelta {
    const minute = floorTo(now, MINUTE_MS);
    const key = `${tenant}\u0000${pid}\u0000${minute}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = {
        tenant,
        pid,
        minute,
        cpuSeconds: 0,
        rssByteSeconds: 0,
        sampledSeconds: 0,
        rssPeak: 0,
        samples: 0,
        toolCalls: 0,
        toolErrors: 0,
        toolMs: 0,
        dbBytes: null,
        dbRows: null,
      };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}
