import type { Readable, Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { ErrorCode, McpTenantsError } from '../core/errors.js';
import { groupLauncher, inOwnGroup } from './process-group.js';

/** The identity a plan's program is started with, and the tool that switches to it. */
export interface SpawnIdentity {
  uid: number;
  gid: number;
  setpriv: string;
}

/** How to start one child: what `spawnPlan()` decides from the manifest. */
export interface SpawnPlan {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /**
   * Opens an IPC channel (execa `ipc`) to a child that accepts one (the
   * built-in server reports its own figures on it); its messages come here.
   * Never set for other children: a Node program would stay alive on it.
   */
  ipc?: ((message: unknown, pid: number) => void) | undefined;
  /**
   * Run the program as this user and group, without supplementary groups
   * (`user:`/`group:`; root only). The limits wrapper puts the switch after
   * its own root-only steps; ChildLink.open applies it to a plan started
   * unwrapped (`applyIdentity`), so `start` refuses a plan that still has one.
   */
  identity?: SpawnIdentity | undefined;
}

export interface ChildExit {
  code: number | null;
  signal: string | null;
}

export type ChildState = 'running' | 'stopping' | 'exited';

/** Grace periods of the polite stop: stdin EOF, then SIGTERM, then SIGKILL. */
export interface StopTimings {
  afterStdinEndMs: number;
  afterSigtermMs: number;
}

const DEFAULT_STOP_TIMINGS: StopTimings = { afterStdinEndMs: 2_000, afterSigtermMs: 2_000 };

/**
 * One running child process. It runs in its own process group, so
 * stopping it also stops any grandchildren (an `npx`-launched server's real
 * process). A well-behaved MCP stdio server exits when its stdin closes, which
 * is also what keeps children from outliving a SIGKILLed supervisor.
 */
export class ChildProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<ChildExit>;
  private currentState: ChildState = 'running';
  private stopping: Promise<ChildExit> | undefined;

  private constructor(private readonly subprocess: ResultPromise) {
    if (subprocess.pid === undefined || !subprocess.stdin || !subprocess.stdout) {
      throw new McpTenantsError(ErrorCode.CHILD_UNAVAILABLE, 'child process has no pid or pipes');
    }
    this.pid = subprocess.pid;
    this.stdin = subprocess.stdin;
    this.stdout = subprocess.stdout;
    this.stderr = subprocess.stderr as Readable;
    // Writes to a child that just died fail with EPIPE; the exit handler reports it.
    this.stdin.on('error', () => {});
    this.exited = new Promise<ChildExit>((resolve) => {
      subprocess.once('exit', (code, signal) => {
        this.currentState = 'exited';
        // The leader is gone; make sure nothing it forked lingers in its group.
        try {
          process.kill(-this.pid, 'SIGKILL');
        } catch {
          // Group already empty.
        }
        resolve({ code, signal });
      });
    });
    // execa's promise rejects on spawn errors even with reject:false for some cases; keep it quiet.
    subprocess.catch(() => {});
  }

  /** Starts the process; resolves once it is spawned (not once it is ready). */
  static async start(plan: SpawnPlan): Promise<ChildProcess> {
    // Never run as the supervisor's own user (often root) a program meant for another.
    if (plan.identity !== undefined) {
      throw new McpTenantsError(
        ErrorCode.INTERNAL,
        `${plan.command}: the plan still names a user to run as; apply it first (applyIdentity)`,
      );
    }
    // Its own process group, so stop() and kill() reach whatever it forks;
    // in the supervisor's session where perl can set the group (see
    // process-group.ts), else in a session of its own (`detached`).
    const launcher = groupLauncher();
    const argv = launcher
      ? inOwnGroup(launcher, plan.command, plan.args, plan.env)
      : { command: plan.command, args: plan.args, env: plan.env };
    const subprocess = execa(argv.command, argv.args, {
      cwd: plan.cwd,
      env: argv.env,
      extendEnv: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      // Nothing kills it when the supervisor exits (execa's `cleanup` off,
      // as it is for a detached child anyway): a graceful shutdown stops it
      // (Supervisor.close(): stdin EOF, SIGTERM, SIGKILL); after a crash or
      // SIGKILL it exits on its stdin's EOF, and one that does not is killed
      // by the next start's cleanupStale if it had a cgroup.
      cleanup: false,
      detached: launcher === undefined,
      encoding: 'buffer',
      ipc: plan.ipc !== undefined,
    });
    const onIpc = plan.ipc;
    if (onIpc) subprocess.on('message', (message: unknown) => onIpc(message, subprocess.pid ?? 0));
    await new Promise<void>((resolve, reject) => {
      subprocess.once('spawn', () => resolve());
      subprocess.once('error', (error) =>
        reject(
          new McpTenantsError(
            ErrorCode.CHILD_UNAVAILABLE,
            `cannot start "${plan.command}": ${error.message}`,
            { cause: error },
          ),
        ),
      );
    });
    return new ChildProcess(subprocess);
  }

  get state(): ChildState {
    return this.currentState;
  }

  /**
   * Stops the whole process group politely and, if it does not listen, by
   * force. Idempotent: every caller gets the same exit.
   */
  stop(timings: StopTimings = DEFAULT_STOP_TIMINGS): Promise<ChildExit> {
    if (this.stopping) return this.stopping;
    if (this.currentState === 'running') this.currentState = 'stopping';
    this.stopping = (async () => {
      if (this.currentState === 'exited') return this.exited;
      this.stdin.end();
      if (await this.exitsWithin(timings.afterStdinEndMs)) return this.exited;
      this.signalGroup('SIGTERM');
      if (await this.exitsWithin(timings.afterSigtermMs)) return this.exited;
      this.signalGroup('SIGKILL');
      return this.exited;
    })();
    return this.stopping;
  }

  /** Kills the whole group at once (crash tests, limits, forced shutdown). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.signalGroup(signal);
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // The group is already gone; fall back to the leader alone.
      this.subprocess.kill(signal);
    }
  }

  private exitsWithin(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      timer.unref();
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
