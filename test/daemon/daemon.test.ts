// startDaemon's wiring: probe failures, readiness, publishing, stop. The probe is a stand-in here
// because these are the cases the real kernel will not produce on demand (a probe that throws);
// test/e2e runs the same code path with the real engine.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { runDaemon, startDaemon, type Daemon } from '../../src/daemon/wiring.ts';
import type { Publisher } from '../../src/publish/types.ts';
import type { StopSignals } from '../../src/daemon/signals.ts';
import type { ProbeReport } from '../../src/contract/report.ts';
import type { ProfileCheck } from '../../src/requirements/profile-checks.ts';
import { fakeChecks, fakeReport } from '../server/fake-report.ts';
import { until as waitFor } from '../e2e/process.ts';

const STATIC_MOUNTINFO = join(mkdtempSync(join(tmpdir(), 'bpfready-mountinfo-')), 'mountinfo');
writeFileSync(STATIC_MOUNTINFO, '22 1 0:21 / / rw - ext4 /dev/root rw\n');

function config(): Config {
  const r = loadConfig({ argv: ['--probe-interval', '1h'], env: {} });
  if (r.help) throw new Error('help');
  return r.config;
}

/** The shared wait of test/e2e/process.ts, on a condition. */
const until = (what: string, cond: () => boolean | Promise<boolean>): Promise<true> =>
  waitFor(what, async () => ((await cond()) ? true : undefined));

let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

describe('startDaemon', () => {
  it('is not ready while the first probe fails, says why, retries, then becomes ready', async () => {
    let calls = 0;
    daemon = await startDaemon(config(), {
      logger: pino({ level: 'silent' }),
      mountinfoPath: '/proc/self/mountinfo',
      probe: async () => {
        if (++calls === 1) throw new Error('bpf() is not available (ENOSYS)');
        return fakeReport();
      },
    });
    expect(await daemon.firstProbe).toBe(false);
    const notReady = await daemon.app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.body).toContain('ENOSYS');
    expect((await daemon.app.inject('/metrics')).body).toContain('bpfready_probe_errors_total 1');
    await until('the retry to succeed', async () => (await daemon!.app.inject('/readyz')).statusCode === 200);
    expect(daemon.state().lastError).toBeNull();
    expect(daemon.state().cycles).toBe(2);
  });

  it('asks the probe for the marking helpers only with fullProbe: true (docs/probes.md)', async () => {
    const asked: (boolean | undefined)[] = [];
    for (const file of ['', 'fullProbe: true\n']) {
      const r = loadConfig({ argv: ['--probe-interval', '1h', '--config', 'f.yaml'], env: {}, readFile: () => file });
      if (r.help) throw new Error('help');
      daemon = await startDaemon(r.config, { logger: pino({ level: 'silent' }), probe: async (o) => (asked.push(o.full), fakeReport()) });
      await daemon.firstProbe;
      await daemon.stop();
      daemon = undefined;
    }
    expect(asked).toEqual([undefined, true]);
  });

  it('checks profiles and hands every successful report to the publisher; publisher trouble is not a probe failure', async () => {
    const published: [ProbeReport, readonly ProfileCheck[]][] = [];
    let closed = false;
    const publisher: Publisher = {
      publish: (r, c) => {
        published.push([r, c]);
        if (published.length === 2) throw new Error('apiserver on fire');
      },
      close: async () => void (closed = true),
    };
    daemon = await startDaemon(config(), {
      logger: pino({ level: 'silent' }),
      probe: async () => fakeReport(),
      check: () => fakeChecks(),
      publisher,
    });
    expect(await daemon.firstProbe).toBe(true);
    expect(published).toHaveLength(1);
    expect(published[0]?.[1]).toEqual(fakeChecks());
    daemon.reprobe('sighup');
    await until('the second cycle', () => daemon!.state().cycles === 2);
    expect(published).toHaveLength(2);
    expect(daemon.state().lastError).toBeNull();
    expect((await daemon.app.inject('/metrics')).body).toContain('bpfready_probe_errors_total 0');
    await daemon.stop();
    expect(closed).toBe(true);
    expect(daemon.state().ready).toBe(false);
    daemon = undefined;
  });

  it('returns memory whenever the loop goes idle, after failed cycles too, never in the middle of a queued one', async () => {
    const events: string[] = [];
    let calls = 0;
    daemon = await startDaemon(config(), {
      logger: pino({ level: 'silent' }),
      // A mount table that never changes: other tests mounting bpffs must not add cycles here.
      mountinfoPath: STATIC_MOUNTINFO,
      probe: async () => {
        events.push(`probe ${++calls}`);
        // A trigger arriving during the second cycle (even from its synchronous start) queues a third behind it.
        if (calls === 2) {
          daemon!.reprobe('sighup');
          throw new Error('a failing cycle');
        }
        return fakeReport();
      },
      releaseMemory: () => events.push(`release after ${daemon?.state().cycles}`),
    });
    expect(await daemon.firstProbe).toBe(true);
    await until('the first release', () => events.length === 2);
    daemon.reprobe('sighup');
    await until('the second release', () => events.length >= 5);
    expect(events).toEqual(['probe 1', 'release after 1', 'probe 2', 'probe 3', 'release after 3']);
  });

  it('a release step that throws is logged, and the loop goes on', async () => {
    let calls = 0;
    daemon = await startDaemon(config(), {
      logger: pino({ level: 'silent' }),
      probe: async () => (calls++, fakeReport()),
      releaseMemory: () => {
        throw new Error('malloc_trim is not there');
      },
    });
    expect(await daemon.firstProbe).toBe(true);
    daemon.reprobe('sighup');
    await until('the second cycle', () => calls === 2);
  });

  it('stop() waits for the probe in flight, aborts it after the grace period, then closes the server', async () => {
    // Ordered by cause, not by the clock: the stand-in probe ends only when its signal aborts, which
    // only stop()'s grace timer does (faked here, and run at once). A stop() that did not wait for the
    // probe would end first, with the probe still pending.
    const events: string[] = [];
    let started = false;
    daemon = await startDaemon(config(), {
      logger: pino({ level: 'silent' }),
      probe: ({ signal }) =>
        new Promise<ProbeReport>((resolve) => {
          started = true;
          signal!.addEventListener('abort', () => (events.push('probe aborted'), resolve(fakeReport())));
        }),
    });
    await until('the probe to start', () => started);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let stopping: Promise<void>;
    try {
      stopping = daemon.stop().then(() => void events.push('stopped'));
      await vi.advanceTimersToNextTimerAsync();
    } finally {
      vi.useRealTimers();
    }
    await stopping;
    expect(events).toEqual(['probe aborted', 'stopped']);
    expect(daemon.state().cycles).toBe(1);
    await expect(daemon.app.inject('/healthz')).rejects.toThrow();
    daemon = undefined;
  });
});

describe('listening on ":PORT"', () => {
  it('answers on IPv4 and IPv6 alike (dual-stack "::"), as the DaemonSet\'s probes and Prometheus need', async () => {
    const r = loadConfig({ argv: ['--probe-interval', '1h', '--listen', ':0'], env: {} });
    if (r.help) throw new Error('help');
    expect(r.config.listen.host).toBe('::');
    daemon = await startDaemon(r.config, {
      logger: pino({ level: 'silent' }),
      mountinfoPath: STATIC_MOUNTINFO,
      probe: async () => fakeReport(),
      listen: true,
    });
    const port = Number(new URL(daemon.url!).port);
    for (const host of ['127.0.0.1', '[::1]']) expect((await fetch(`http://${host}:${port}/healthz`)).status, host).toBe(200);
  });
});

describe('runDaemon', () => {
  it('logs start, signals and stop under component "lifecycle", and exits 0 on SIGTERM', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    let stop!: (s: NodeJS.Signals) => void;
    let hup: () => void = () => {};
    const signals: StopSignals = {
      stop: new Promise<NodeJS.Signals>((r) => (stop = r)),
      received: undefined,
      onHup: (h) => void (hup = h),
      dispose: () => {},
    };
    const r = loadConfig({ argv: ['--probe-interval', '1h', '--listen', '127.0.0.1:0'], env: {} });
    if (r.help) throw new Error('help');
    const running = runDaemon(r.config, { logger, mountinfoPath: STATIC_MOUNTINFO, probe: async () => fakeReport() }, signals);
    await until('the server to listen', () => lines.some((l) => l.msg === 'serving'));
    hup();
    stop('SIGTERM');
    expect(await running).toBe(0);
    const lifecycle = lines.filter((l) => l.component === 'lifecycle').map((l) => l.msg);
    expect(lifecycle).toEqual(['serving', 'SIGHUP: re-probing', 'shutting down', 'stopped']);
  });
});
