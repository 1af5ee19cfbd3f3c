// A test clock: timers fire almost at once (real setTimeout, scaled down), but the delays the
// publisher ASKED for are recorded, so backoff and Retry-After are asserted without waiting.
import type { Clock } from '../../src/publish/types.ts';

export class RecordingClock implements Clock {
  nowMs = Date.parse('2026-11-22T01:00:00Z');
  readonly delays: number[] = [];
  /** Real milliseconds per requested millisecond. */
  scale: number;
  constructor(scale = 0) {
    this.scale = scale;
  }
  now(): number {
    return this.nowMs;
  }
  /** Timers this long or longer wait for fireHeld() (heartbeats), instead of firing at once. */
  holdAtLeastMs = Infinity;
  private held: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    if (ms >= this.holdAtLeastMs) {
      const h = { fn, ms, cancelled: false };
      this.held.push(h);
      return h;
    }
    return setTimeout(fn, Math.min(ms * this.scale, 50));
  }
  /** Advance the clock past the held timers and fire them. */
  fireHeld(): number {
    const due = this.held.splice(0).filter((h) => !h.cancelled);
    for (const h of due) {
      this.nowMs += h.ms;
      h.fn();
    }
    return due.length;
  }
  clearTimeout(h: unknown): void {
    if (h && typeof h === 'object' && 'cancelled' in h) (h as { cancelled: boolean }).cancelled = true;
    else clearTimeout(h as NodeJS.Timeout);
  }
}
