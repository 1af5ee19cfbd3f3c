// The one retry-with-backoff (src/base/backoff.ts), on fake timers: every wait is asserted by
// advancing the clock to just before and just after it, never by sleeping.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backoff, backoffDelay, retry } from '../../src/base/backoff.ts';

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('backoffDelay and Backoff', () => {
  it('doubles from baseMs up to maxMs, with each kind of jitter inside its range', () => {
    const none = { baseMs: 100, maxMs: 1000, jitter: 'none' as const };
    expect([0, 1, 2, 3, 4, 5, 2000].map((a) => backoffDelay(none, a))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    for (const r of [0, 0.5, 0.999]) {
      expect(backoffDelay({ ...none, jitter: 'equal' }, 3, () => r)).toBe(400 + 400 * r);
      expect(backoffDelay({ ...none, jitter: 'full' }, 3, () => r)).toBe(800 * r);
    }
  });

  it('counts failures until reset, honours a longer Retry-After, and waits as first for a cheap failure', () => {
    const b = new Backoff({ baseMs: 500, maxMs: 60_000, jitter: 'equal' }, () => 0.5);
    expect([b.next(), b.next(), b.next()]).toEqual([375, 750, 1500]);
    expect(b.attempt).toBe(3);
    expect(b.next(7000)).toBe(7000);
    expect(b.next(100), 'a Retry-After shorter than the backoff leaves the backoff').toBe(6000);
    expect(b.next(0, { asFirst: true })).toBe(250);
    expect(b.attempt).toBe(6);
    b.reset();
    expect(b.next()).toBe(375);
  });
});

describe('retry', () => {
  it('tries again after each delay, not before, and returns the first success', async () => {
    let calls = 0;
    const f = vi.fn(async () => {
      if (++calls < 3) throw new Error(`failure ${calls}`);
      return 'done';
    });
    const p = retry(f, { policy: { baseMs: 200, maxMs: 10_000, jitter: 'none' }, attempts: 5, retryable: () => true });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(199);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(399);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('done');
    expect(calls).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('throws the last failure after `attempts` tries, and a failure that is not retryable at once', async () => {
    let calls = 0;
    const always = async () => {
      throw new Error(`failure ${++calls}`);
    };
    const p = retry(always, { policy: { baseMs: 100, maxMs: 100, jitter: 'none' }, attempts: 3, retryable: () => true });
    const settled = expect(p).rejects.toThrow('failure 3');
    await vi.advanceTimersByTimeAsync(200);
    await settled;
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      retry(always, { policy: { baseMs: 100, maxMs: 100, jitter: 'none' }, attempts: 3, retryable: () => false }),
    ).rejects.toThrow('failure 1');
    expect(calls).toBe(1);
  });

  it('waits at least what the failure asks for (Retry-After)', async () => {
    let calls = 0;
    const p = retry(
      async () => {
        if (++calls === 1) throw Object.assign(new Error('429'), { retryAfterMs: 5000 });
        return calls;
      },
      {
        policy: { baseMs: 200, maxMs: 10_000, jitter: 'none' },
        attempts: 2,
        retryable: () => true,
        retryAfterMs: (e) => (e as { retryAfterMs: number }).retryAfterMs,
      },
    );
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe(2);
  });
});
