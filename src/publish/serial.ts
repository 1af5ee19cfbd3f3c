// One pass at a time, never a lost kick: what both writers need so that "the latest desired state
// wins" holds even when publish() arrives while a request is in flight or a backoff is pending.
import type { Clock } from './types.ts';

export class SerialRunner {
  private readonly pass: () => Promise<void>;
  private readonly clock: Clock;
  private running = false;
  private again = false;
  private timer: unknown;
  private closed = false;
  private waiting: (() => void)[] = [];

  constructor(pass: () => Promise<void>, clock: Clock) {
    this.pass = pass;
    this.clock = clock;
  }

  /** Run a pass now, or once more after the running one; while a retry is pending, wait for it. */
  kick(): void {
    if (this.closed || this.timer !== undefined) return;
    if (this.running) {
      // The running pass may already be past its last look at the desired state.
      this.again = true;
      return;
    }
    this.running = true;
    this.again = false;
    void this.pass().finally(() => {
      this.running = false;
      if (this.again) this.kick();
      this.settle();
    });
  }

  /** Resolves once no pass is running, queued or waiting on a timer (or the runner is closed). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.settle();
    });
  }

  private settle(): void {
    if (!this.closed && (this.running || this.timer !== undefined)) return;
    for (const w of this.waiting.splice(0)) w();
  }

  /** Hold all kicks for `ms`, then run a pass (backoff, jittered start). */
  retryIn(ms: number): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  /** Drop a pending retry and run a pass now (the reason for the wait is gone). */
  runNow(): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.kick();
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.settle();
  }
}
