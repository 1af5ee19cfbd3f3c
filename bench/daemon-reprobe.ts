// A re-probe when nothing changed: the daemon's whole cycle (probe + profile checks + state) after
// the first probe, with the engine's cache of conclusive results warm. Target ≤ 10 ms.
// With `attach-due`, every re-probe finds the attach section due, as one does every 10 minutes
// (src/collect/cache.ts ATTACH_MAX_AGE_MS): the cycle then runs the attach probes again
// (docs/probes.md#attach-section).
// Run: node_modules/.bin/node bench/daemon-reprobe.ts [cycles] [attach-due]
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/daemon/wiring.ts';
import { probe, ProbeCache } from '../src/collect/index.ts';
import { checkProfiles } from '../src/requirements/profile-checks.ts';
import { median, percentile, reexecWithDaemonFlags, requireRoot } from './daemon-common.ts';

requireRoot();
// The daemon's runtime: no optimizing compilers, small young generation (bin/bpfready).
reexecWithDaemonFlags();
const cycles = Number(process.argv[2] ?? 200);
const attachDue = process.argv[3] === 'attach-due';
const loaded = loadConfig({ argv: ['--probe-interval', '1h'], env: {} });
if (loaded.help) process.exit(2);
const config = loaded.config;

const probeMs: number[] = [];
const cycleMs: number[] = [];
let t0 = 0;
// The daemon's cache of conclusive results, as src/daemon/wiring.ts holds one.
class AttachAlwaysDue extends ProbeCache {
  override attach(): undefined {
    return undefined;
  }
}
const cache = attachDue ? new AttachAlwaysDue() : new ProbeCache();
const daemon = await startDaemon(config, {
  logger: pino({ level: 'warn' }),
  probe: async (o) => {
    t0 = performance.now();
    const r = await probe({ ...o, cache });
    probeMs.push(performance.now() - t0);
    return r;
  },
  check: (report) => {
    const c = checkProfiles(config.profiles, report);
    cycleMs.push(performance.now() - t0);
    return c;
  },
});
if (!(await daemon.firstProbe)) throw new Error('first probe failed');
const first = { probe: probeMs[0] ?? NaN, cycle: cycleMs[0] ?? NaN };
probeMs.length = 0;
cycleMs.length = 0;

for (let i = 0; i < cycles; i++) {
  const n = daemon.state().cycles;
  daemon.reprobe('sighup');
  while (daemon.state().cycles === n) await new Promise((r) => setImmediate(r));
}
await daemon.stop();
const f = (xs: number[]): string =>
  `median ${median(xs).toFixed(2)} ms, p90 ${percentile(xs, 90).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms`;
console.log(`first cycle: probe ${first.probe.toFixed(0)} ms, with checks ${first.cycle.toFixed(0)} ms`);
console.log(
  `${cycles} re-probes with nothing changed${attachDue ? ', the attach section due each time' : ''} (${Object.keys(config.profiles).length} profiles checked each time):`,
);
console.log(`  probe()         ${f(probeMs)}`);
console.log(`  probe + checks  ${f(cycleMs)}${attachDue ? '' : '   (target ≤ 10 ms)'}`);
