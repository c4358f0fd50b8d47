/**
 * Throttles a process group without a cgroup: every period it gets SIGCONT,
 * and SIGSTOP once its share of the period (the duty) has passed. Timers are
 * unref'd. `stop()` always leaves the group running.
 *
 * Caveat: if the supervisor is SIGKILLed during the stopped part of a period,
 * the group stays stopped until someone sends SIGCONT or SIGKILL.
 */
export class DutyCycle {
  private duty = 1;
  private periodTimer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly signal: (signal: 'SIGSTOP' | 'SIGCONT') => void,
    private readonly periodMs = 100,
  ) {}

  get current(): number {
    return this.duty;
  }

  set(duty: number): void {
    this.duty = Math.min(1, Math.max(0, duty));
    if (this.duty >= 1) {
      this.stop();
      return;
    }
    if (this.periodTimer) return;
    this.periodTimer = setInterval(() => this.cycle(), this.periodMs);
    this.periodTimer.unref();
    this.cycle();
  }

  /** Idempotent; resumes the group if it was being throttled. */
  stop(): void {
    const wasRunning = this.periodTimer !== undefined;
    clearInterval(this.periodTimer);
    clearTimeout(this.stopTimer);
    this.periodTimer = undefined;
    this.stopTimer = undefined;
    this.duty = 1;
    if (wasRunning) this.signal('SIGCONT');
  }

  private cycle(): void {
    this.signal('SIGCONT');
    clearTimeout(this.stopTimer);
    this.stopTimer = setTimeout(
      () => this.signal('SIGSTOP'),
      Math.max(1, Math.round(this.duty * this.periodMs)),
    );
    this.stopTimer.unref();
  }
}
