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
  setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    return setTimeout(fn, Math.min(ms * this.scale, 50));
  }
  clearTimeout(h: unknown): void {
    clearTimeout(h as NodeJS.Timeout);
  }
}
