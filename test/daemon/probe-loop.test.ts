import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProbeLoop, type ProbeLoop, type ProbeLoopOptions } from '../../src/daemon/probe-loop.ts';
import type { ProbeTrigger } from '../../src/server/state.ts';

interface Harness {
  loop: ProbeLoop;
  triggers: ProbeTrigger[];
  mounts: { content: string };
  /** Resolve the cycle in flight (cycles block until released when `manual`). */
  release(ok?: boolean): void;
}

function harness(over: Partial<ProbeLoopOptions> = {}, manual = false): Harness {
  const triggers: ProbeTrigger[] = [];
  const mounts = { content: '22 1 0:21 / /sys rw - sysfs sysfs rw\n' };
  const waiting: ((ok: boolean) => void)[] = [];
  const loop = createProbeLoop({
    cycle: (t) => {
      triggers.push(t);
      return manual ? new Promise<boolean>((r) => waiting.push(r)) : Promise.resolve(true);
    },
    intervalSeconds: 60,
    jitter: 0.1,
    mountinfoPath: '/proc/self/mountinfo',
    mountCheckSeconds: 2,
    logger: pino({ level: 'silent' }),
    random: () => 0.5,
    readMountinfo: async () => mounts.content,
    ...over,
  });
  return { loop, triggers, mounts, release: (ok = true) => waiting.shift()?.(ok) };
}

let h: Harness | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  const stopping = h?.loop.stop(0);
  h?.release();
  await vi.runOnlyPendingTimersAsync();
  await stopping;
  h = undefined;
  vi.useRealTimers();
});

describe('probe loop', () => {
  it('runs a startup cycle and reports its result', async () => {
    h = harness({ cycle: async () => false });
    expect(await h.loop.start()).toBe(false);
  });

  it('re-probes on the jittered interval', async () => {
    // random() = 0 draws the shortest wait: interval × (1 − jitter) = 48 s.
    h = harness({ jitter: 0.2, random: () => 0 });
    await h.loop.start();
    await vi.advanceTimersByTimeAsync(47_900);
    expect(h.triggers).toEqual(['startup']);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.triggers).toEqual(['startup', 'interval']);
    await vi.advanceTimersByTimeAsync(48_000);
    expect(h.triggers).toEqual(['startup', 'interval', 'interval']);
  });

  it('the wait stays within ±jitter of the interval', async () => {
    h = harness({ jitter: 0.1, random: () => 0.999999 });
    await h.loop.start();
    await vi.advanceTimersByTimeAsync(65_999);
    expect(h.triggers).toEqual(['startup', 'interval']);
  });

  it('re-probes when the mount table changes, and only then', async () => {
    h = harness();
    await h.loop.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.triggers).toEqual(['startup']);
    h.mounts.content += '40 22 0:40 / /sys/fs/bpf rw - bpf bpf rw,delegate_cmds=any\n';
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.triggers).toEqual(['startup', 'mounts']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.triggers).toEqual(['startup', 'mounts']);
  });

  it('never overlaps cycles: triggers during a cycle collapse into one more', async () => {
    h = harness({}, true);
    const first = h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    h.loop.trigger('sighup');
    h.loop.trigger('sighup');
    h.mounts.content += 'changed\n';
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.triggers).toEqual(['startup']);
    h.release();
    expect(await first).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.triggers).toEqual(['startup', 'sighup']);
    h.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.triggers).toEqual(['startup', 'sighup']);
  });

  it('retries a failed cycle sooner than the interval, backing off', async () => {
    let ok = false;
    h = harness({ cycle: async (t) => (h?.triggers.push(t), ok) });
    expect(await h.loop.start()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(h.triggers.length).toBe(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.triggers.length).toBe(3);
    ok = true;
    await vi.advanceTimersByTimeAsync(4_000);
    expect(h.triggers.length).toBe(4);
    // Healthy again: back to the full interval.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(h.triggers.length).toBe(4);
  });

  it('stop() waits for the cycle in flight, then nothing runs', async () => {
    h = harness({}, true);
    void h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    let stopped = false;
    const stopping = h.loop.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    h.release();
    await stopping;
    expect(stopped).toBe(true);
    h.loop.trigger('sighup');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.triggers).toEqual(['startup']);
  });

  it('stop() while start() reads the mount table: no cycle, no timer left to keep the process alive', async () => {
    let readMounts!: (s: string) => void;
    h = harness({ readMountinfo: () => new Promise<string>((r) => (readMounts = r)) });
    const starting = h.loop.start();
    await h.loop.stop();
    readMounts('22 1 0:21 / /sys rw - sysfs sysfs rw\n');
    expect(await starting).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    expect(h.triggers).toEqual([]);
  });

  it('the longest interval with jitter still fits setTimeout (no overflow, no immediate re-probe)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    h = harness({ intervalSeconds: 2_147_483, jitter: 0.5, random: () => 0.999999 });
    await h.loop.start();
    await vi.advanceTimersByTimeAsync(60_000);
    process.off('warning', onWarning);
    expect(h.triggers).toEqual(['startup']);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('stop() aborts a cycle that outlives the grace period', async () => {
    let seen: AbortSignal | undefined;
    h = harness({
      cycle: (_t, signal) =>
        new Promise<boolean>((resolve) => {
          seen = signal;
          signal.addEventListener('abort', () => resolve(false));
        }),
    });
    void h.loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const stopping = h.loop.stop(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await stopping;
    expect(seen?.aborted).toBe(true);
  });

  it('a cycle that throws counts as failed and the loop keeps going', async () => {
    let n = 0;
    h = harness({
      cycle: async () => {
        n++;
        if (n === 1) throw new Error('boom');
        return true;
      },
    });
    expect(await h.loop.start()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(n).toBe(2);
  });
});
