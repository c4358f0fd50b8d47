import { folderSize } from './folder-size.js';

/** How old a sample may be before a request triggers a new one. */
export const STORAGE_SAMPLE_MS = 5_000;

interface Sample {
  bytes: number | undefined;
  takenAt: number;
  running: boolean;
}

/**
 * The size of third-party tenants' folders, sampled: a request reads the
 * last sample at once and, when it is older than STORAGE_SAMPLE_MS, starts
 * a new walk in the background. So the check never delays a request, and a
 * tenant can overshoot `max_storage_mb` by what it writes within one sample.
 * (The built-in server measures its own database before every write.)
 */
export class StorageSampler {
  private readonly samples = new Map<string, Sample>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly measure: (dir: string) => Promise<number> = folderSize,
  ) {}

  /**
   * The last measured size, undefined until a first walk finished. The
   * folder is asked of `dirOf` only when a walk starts, not per request.
   */
  usedBytes(tenantId: string, dirOf: (tenantId: string) => string): number | undefined {
    const now = this.now();
    let sample = this.samples.get(tenantId);
    if (!sample) {
      sample = { bytes: undefined, takenAt: Number.NEGATIVE_INFINITY, running: false };
      this.samples.set(tenantId, sample);
    }
    if (!sample.running && now - sample.takenAt >= STORAGE_SAMPLE_MS) {
      const current = sample;
      current.running = true;
      this.measure(dirOf(tenantId))
        .then((bytes) => {
          current.bytes = bytes;
        })
        .catch(() => {})
        .finally(() => {
          current.takenAt = this.now();
          current.running = false;
        });
    }
    return sample.bytes;
  }
}
