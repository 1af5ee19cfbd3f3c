// When to probe: once at start, then on a jittered interval, when the mount table changes, and on
// demand (SIGHUP). Cycles never overlap; triggers that arrive during a cycle collapse into one more.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../base/backoff.ts';
import type { ProbeTrigger } from '../server/state.ts';

export interface ProbeLoopOptions {
  /** One probe cycle. Resolves true when it succeeded; must not throw. */
  cycle(trigger: ProbeTrigger, signal: AbortSignal): Promise<boolean>;
  intervalSeconds: number;
  /** Fraction of the interval each wait may deviate by, so that the nodes of a cluster drift apart. */
  jitter: number;
  /** The file whose content is the mount table; a change triggers a re-probe (bpffs mounted, etc.). */
  mountinfoPath: string;
  mountCheckSeconds: number;
  logger: Logger;
  random?: () => number;
  readMountinfo?: (path: string) => Promise<string>;
  /** Called when the loop goes idle: after a cycle, and after any cycles queued behind it. */
  onIdle?: () => void;
}

export interface ProbeLoop {
  /** Runs the first cycle and arms the timers; resolves when that first cycle is over. */
  start(): Promise<boolean>;
  trigger(reason: ProbeTrigger): void;
  /** Disarms the timers and waits for the cycle in flight to finish (aborting it after graceMs). */
  stop(graceMs?: number): Promise<void>;
}

// After a failed cycle, retry sooner than the interval (bounded): readiness waits on a good probe.
const RETRY_BASE_MS = 1000;
/** setTimeout's limit (2^31 − 1 ms); a longer delay fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createProbeLoop(opts: ProbeLoopOptions): ProbeLoop {
  const random = opts.random ?? Math.random;
  const read = opts.readMountinfo ?? ((p: string) => readFile(p, 'utf8'));
  const log = opts.logger;
  const abort = new AbortController();
  let running: Promise<void> | null = null;
  let pending: ProbeTrigger | null = null;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let mountTimer: NodeJS.Timeout | undefined;
  let lastMounts: string | null = null;
  let checkingMounts = false;
  let onFirst: ((ok: boolean) => void) | null = null;

  const nextDelayMs = (): number => {
    const base = opts.intervalSeconds * 1000;
    if (failures > 0) return backoffDelay({ baseMs: RETRY_BASE_MS, maxMs: base, jitter: 'none' }, failures - 1);
    // The jitter may stretch the longest allowed interval past what setTimeout can wait.
    return Math.min(base * (1 + opts.jitter * (2 * random() - 1)), MAX_TIMER_MS);
  };

  const arm = (): void => {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => trigger('interval'), nextDelayMs());
  };

  const runCycle = async (reason: ProbeTrigger): Promise<boolean> => {
    clearTimeout(timer);
    let ok = false;
    try {
      ok = await opts.cycle(reason, abort.signal);
    } catch (err) {
      log.error({ err, trigger: reason }, 'probe cycle threw');
    }
    failures = ok ? 0 : failures + 1;
    onFirst?.(ok);
    onFirst = null;
    return ok;
  };

  const drain = async (first: ProbeTrigger): Promise<void> => {
    // Yield first, so that `running` is set before any cycle starts: a trigger from inside a cycle's
    // synchronous start is then queued, never a second loop running beside this one.
    await null;
    let reason: ProbeTrigger | null = first;
    while (reason && !stopped) {
      pending = null;
      await runCycle(reason);
      reason = pending;
    }
    running = null;
    try {
      opts.onIdle?.();
    } catch (err) {
      log.error({ err }, 'after-cycle step failed');
    }
    arm();
  };

  function trigger(reason: ProbeTrigger): void {
    if (stopped) return;
    if (running) {
      pending ??= reason;
      return;
    }
    running = drain(reason);
  }

  const checkMounts = async (): Promise<void> => {
    if (checkingMounts || stopped) return;
    checkingMounts = true;
    try {
      const now = await read(opts.mountinfoPath);
      if (lastMounts !== null && now !== lastMounts) {
        log.info('mount table changed; re-probing');
        trigger('mounts');
      }
      lastMounts = now;
    } catch (err) {
      log.warn({ err, path: opts.mountinfoPath }, 'cannot read the mount table');
    } finally {
      checkingMounts = false;
    }
  };

  return {
    async start() {
      await checkMounts();
      // stop() may have come while the mount table was read: arm nothing then, or the interval
      // would keep the process alive after it.
      if (stopped) return false;
      mountTimer = setInterval(() => void checkMounts(), opts.mountCheckSeconds * 1000);
      const first = new Promise<boolean>((resolve) => (onFirst = resolve));
      trigger('startup');
      return first;
    },
    trigger,
    async stop(graceMs = 5000) {
      stopped = true;
      clearTimeout(timer);
      clearInterval(mountTimer);
      const inFlight = running;
      if (!inFlight) return;
      const grace = setTimeout(() => abort.abort(new Error('shutting down')), graceMs);
      try {
        await inFlight;
      } finally {
        clearTimeout(grace);
      }
    },
  };
}
