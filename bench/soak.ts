// Soak: ≥ 10,000 daemon probe cycles against the real kernel, with /metrics, /status and
// /status.json scraped along the way, checking that open fds, heap after GC and RSS do not grow.
// Exit 1 if they do. Run: node_modules/.bin/node bench/soak.ts [cycles] [--workers N] (as root)
// --workers passes the engine's helper-matrix worker count (default: the engine's own choice).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/main.ts';
import { probe } from '../src/probes/index.ts';
import { checkProfiles } from '../src/server/checks.ts';
import { fdCount, mib, requireRoot, rssBytes } from './daemon-common.ts';

requireRoot();
const args = process.argv.slice(2);
const wi = args.indexOf('--workers');
const workers = wi >= 0 ? Number(args.splice(wi, 2)[1]) : undefined;
const cycles = Number(args[0] ?? 10_000);
const WARMUP = 300;
const SCRAPE_EVERY = 50;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const loaded = loadConfig({ argv: ['--probe-interval', '1h'], env: {} });
if (loaded.help) process.exit(2);
const config = loaded.config;
const daemon = await startDaemon(config, {
  logger: pino({ level: 'warn' }),
  probe: workers === undefined ? probe : (o) => probe({ ...o, workers }),
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
  return { cycle, fds: fdCount('self'), heap: process.memoryUsage().heapUsed, rss: rssBytes('self'), seconds: (performance.now() - started) / 1000 };
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
  if (i === WARMUP || i % 1000 === 0 || i === cycles) {
    const s = sample(i);
    samples.push(s);
    console.log(`cycle ${String(i).padStart(6)}  fds ${s.fds}  heap ${mib(s.heap)}  rss ${mib(s.rss)}  ${s.seconds.toFixed(0)} s`);
  }
}
await daemon.stop();

const base = samples.find((s) => s.cycle === WARMUP) ?? samples[0];
const end = samples.at(-1);
if (!base || !end) throw new Error('no samples');
// After warm-up every cache is full; what remains is allocator noise (V8 pages, glibc arenas).
const limits = { fds: 0, heap: 2 * 2 ** 20, rss: 16 * 2 ** 20 };
const growth = { fds: end.fds - base.fds, heap: end.heap - base.heap, rss: end.rss - base.rss };
const perCycleMs = ((end.seconds - base.seconds) * 1000) / (end.cycle - base.cycle);
console.log(`\n${cycles} cycles (${daemon.state().cycles} incl. the first), ${(end.seconds).toFixed(0)} s, ${perCycleMs.toFixed(1)} ms per cycle incl. scrapes`);
console.log(`growth from cycle ${base.cycle} to ${end.cycle}: fds ${growth.fds >= 0 ? '+' : ''}${growth.fds} (limit ${limits.fds}), heap after GC ${mib(growth.heap)} (limit ${mib(limits.heap)}), RSS ${mib(growth.rss)} (limit ${mib(limits.rss)})`);
const failed = growth.fds > limits.fds || growth.heap > limits.heap || growth.rss > limits.rss;
console.log(failed ? 'FAIL: resources grew' : 'PASS: no growth in fds, heap or RSS');
process.exitCode = failed ? 1 : 0;
