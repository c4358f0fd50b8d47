import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../core/logger.js';

/** What a worker tells the primary once it serves. */
export interface WorkerReady {
  type: 'ready';
  url: string;
  nodeId: string;
}

const MAX_RESTART_DELAY_MS = 30_000;
/** A worker still running this long after SIGTERM is killed. */
const STOP_GRACE_MS = 15_000;

/**
 * The primary of `serve --workers N`: N worker processes share the port
 * (Node's cluster module hands connections round-robin), each a node of one
 * cluster on the manifest's store. A worker that dies is started again,
 * with back-off; SIGHUP reaches every worker; SIGINT/SIGTERM stop them all.
 * The workers watch their channel to the primary, so a primary killed with
 * SIGKILL leaves none behind (and they leave no children behind).
 */
export function runPrimary(
  count: number,
  log: Logger,
  onReady: (ready: WorkerReady[]) => void,
): Promise<void> {
  const ready = new Map<number, WorkerReady>();
  let announced = false;
  let stopping = false;
  let restartDelay = 500;
  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: unknown) => {
      if ((message as { type?: unknown } | null)?.type !== 'ready') return;
      ready.set(worker.id, message as WorkerReady);
      restartDelay = 500;
      if (!announced && ready.size >= count) {
        announced = true;
        onReady([...ready.values()]);
      }
    });
    return worker;
  };
  return new Promise<void>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      ready.delete(worker.id);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
        return;
      }
      if (!announced) {
        // Before serving at all (a port in use, a store out of reach): the next would fail alike.
        process.stderr.write(
          `mcp-tenants: a worker could not start (exit code ${code ?? signal}); its error is above\n`,
        );
        process.exitCode = code || 1;
        stop();
        return;
      }
      log.error('a worker stopped; starting another (its error is above)', {
        pid: worker.process.pid,
        code,
        signal,
        retry_ms: restartDelay,
      });
      setTimeout(fork, restartDelay).unref();
      restartDelay = Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS);
    });
    const stop = (signal?: NodeJS.Signals): void => {
      if (stopping) {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
        return;
      }
      stopping = true;
      if (signal)
        process.stderr.write(`mcp-tenants: ${signal} received, stopping ${count} workers\n`);
      const workers = Object.values(cluster.workers ?? {});
      if (workers.length === 0) resolve();
      for (const worker of workers) worker?.process.kill('SIGTERM');
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      }, STOP_GRACE_MS).unref();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    });
    for (let i = 0; i < count; i++) fork();
  });
}

/** In a worker: tells the primary it serves. */
export function reportReady(ready: WorkerReady): void {
  process.send?.(ready);
}

/** In a worker: `stop` once the primary is gone (its channel closes, even after SIGKILL). */
export function stopWithPrimary(stop: () => Promise<void>): void {
  process.once('disconnect', () => {
    void stop().then(() => process.exit(0));
  });
}

export const isWorker = (): boolean => cluster.isWorker;
