// Soak: ≥ 10,000 daemon probe cycles against the real kernel, with /metrics, /status and
// /status.json scraped along the way, checking that open fds, heap after GC and RSS do not grow.
// Exit 1 if they do. Run: node_modules/.bin/node bench/soak.ts [cycles] [--workers N] (as root)
// --workers passes the engine's helper-matrix worker count (default: the engine's own choice).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/daemon/wiring.ts';
import { probe, ProbeCache } from '../src/collect/index.ts';
import { checkProfiles } from '../src/requirements/profile-checks.ts';
import { fdCount, mib, reexecWithDaemonFlags, requireRoot, rssBytes } from './daemon-common.ts';

requireRoot();
reexecWithDaemonFlags();
const args = process.argv.slice(2);
const wi = args.indexOf('--workers');
const workers = wi >= 0 ? Number(args.splice(wi, 2)[1]) : undefined;
const cycles = Number(args[0] ?? 10_000);
// RSS climbs during the first few hundred cycles (malloc arenas, V8 pages, the engine's helper
// worker threads) and then only fluctuates; growth is judged after this many.
const WARMUP = 1000;
const SCRAPE_EVERY = 50;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const loaded = loadConfig({ argv: ['--probe-interval', '1h'], env: {} });
if (loaded.help) process.exit(2);
const config = loaded.config;
// The daemon's cache of conclusive results, as src/daemon/wiring.ts holds one.
const cache = new ProbeCache();
const daemon = await startDaemon(config, {
  logger: pino({ level: 'warn' }),
  probe: (o) => probe({ ...o, cache, ...(workers === undefined ? {} : { workers }) }),
  check: (report) => checkProfiles(config.profiles, report),
});
if (!(await daemon.firstProbe)) throw new Error('first probe failed');

interface Sample {
  cycle: number;
  fds: number;
  heap: number;
  rss: number;
  seconds: number;
}
const started = performance.now();
function sample(cycle: number): Sample {
  gc();
  gc();
  return {
    cycle,
    fds: fdCount('self'),
    heap: process.memoryUsage().heapUsed,
    rss: rssBytes('self'),
    seconds: (performance.now() - started) / 1000,
  };
}

async function scrape(): Promise<void> {
  for (const url of ['/metrics', '/status', '/status.json', '/readyz']) {
    const res = await daemon.app.inject(url);
    if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
  }
}

const samples: Sample[] = [];
for (let i = 1; i <= cycles; i++) {
  const n = daemon.state().cycles;
  daemon.reprobe('sighup');
  while (daemon.state().cycles === n) await new Promise((r) => setImmediate(r));
  if (daemon.state().lastError) throw new Error(`cycle ${i} failed: ${daemon.state().lastError?.message}`);
  if (i % SCRAPE_EVERY === 0) await scrape();
  if (i === 100 || i % 500 === 0 || i === cycles) {
    const s = sample(i);
    samples.push(s);
    console.log(`cycle ${String(i).padStart(6)}  fds ${s.fds}  heap ${mib(s.heap)}  rss ${mib(s.rss)}  ${s.seconds.toFixed(0)} s`);
  }
}
await daemon.stop();

const steady = samples.filter((s) => s.cycle >= WARMUP);
const base = steady[0];
const end = steady.at(-1);
if (!base || !end || steady.length < 3) throw new Error(`run at least ${WARMUP + 1000} cycles`);
/** Least-squares slope of y over cycles, per 1,000 cycles: a trend, not the noise of one sample. */
function slope(y: (s: Sample) => number): number {
  const n = steady.length;
  const mx = steady.reduce((a, s) => a + s.cycle, 0) / n;
  const my = steady.reduce((a, s) => a + y(s), 0) / n;
  const num = steady.reduce((a, s) => a + (s.cycle - mx) * (y(s) - my), 0);
  const den = steady.reduce((a, s) => a + (s.cycle - mx) ** 2, 0);
  return (1000 * num) / den;
}
const growth = { fds: end.fds - base.fds, heap: end.heap - base.heap, rss: end.rss - base.rss };
const trend = { heap: slope((s) => s.heap), rss: slope((s) => s.rss) };
const perCycleMs = ((end.seconds - base.seconds) * 1000) / (end.cycle - base.cycle);
const rssAll = steady.map((s) => s.rss);
console.log(
  `\n${cycles} cycles (${daemon.state().cycles} incl. the first), ${end.seconds.toFixed(0)} s, ${perCycleMs.toFixed(1)} ms per cycle incl. scrapes`,
);
console.log(
  `cycle ${base.cycle} → ${end.cycle}: fds ${base.fds} → ${end.fds}; heap after GC ${mib(base.heap)} → ${mib(end.heap)}; RSS ${mib(base.rss)} → ${mib(end.rss)} (range ${mib(Math.min(...rssAll))} … ${mib(Math.max(...rssAll))})`,
);
console.log(`trend per 1,000 cycles: heap ${mib(trend.heap)}, RSS ${mib(trend.rss)}`);
// A leak of even 100 bytes a cycle is 1 MiB per 10,000 cycles of heap; fds must not move at all.
const failed = growth.fds !== 0 || growth.heap > 2 * 2 ** 20 || trend.heap > 0.2 * 2 ** 20 || trend.rss > 1 * 2 ** 20;
console.log(failed ? 'FAIL: resources grew' : 'PASS: no growth in fds, heap or RSS');
process.exitCode = failed ? 1 : 0;
