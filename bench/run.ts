// `npm run bench`: the footprint and speed figures of issue 20 side by side in one table, then the
// other benchmarks one after the other (they compete for the same 2 cores). Wall and CPU figures are
// ratios to bpftool from alternating runs (bench/probe-vs-bpftool.ts); memory is the kernel's
// accounting (VmRSS, VmHWM, GNU time's maximum RSS), which CPU contention does not move much. The
// load average at the start and end says how busy the machine was. A long soak is opt-in
// (BENCH_SOAK=1); BENCH_RUNS sets the alternating runs (default 7), BENCH_STEADY the seconds of each
// steady-state window (default 40).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { median, mib } from './daemon-common.ts';
import { importBreakdown } from './imports.ts';
import { imageTree } from './image-tree.ts';
import { BPFTOOL, FLOOR_KOFFI, FLOOR_NODE, FLOOR_ROWS, FLOOR_WORKER, FULL, measure, TABLES, TABLES_THREADS } from './probe-vs-bpftool.ts';
import { measureSteady, type Steady } from './daemon-steady.ts';

const here = new URL('.', import.meta.url).pathname;
const runs = Number(process.env['BENCH_RUNS'] ?? 7);
const steadySeconds = Number(process.env['BENCH_STEADY'] ?? 40);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
let failed = 0;

if (process.geteuid?.() !== 0) {
  console.log('bench: the footprint table needs root (probes load programs); skipped');
} else {
  const loadBefore = load();
  const p = measure(runs);
  const tree = imageTree();
  // A window with re-probes in it: every 20 s (±10 %) instead of the default 60 s.
  const args = ['--probe-interval', '20s'];
  const serve = await measureSteady({ command: 'serve', seconds: steadySeconds, args });
  const daemon = await measureSteady({ command: 'daemon', seconds: steadySeconds, args });
  const imageServe = await measureSteady({ command: 'serve', seconds: steadySeconds, args, bin: tree.bin, env: tree.env });
  const imageDaemon = await measureSteady({ command: 'daemon', seconds: steadySeconds, args, bin: tree.bin, env: tree.env });
  const imports = importBreakdown(tree);
  const loadAfter = load();

  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const MiB = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const bw = median(p[BPFTOOL]!.wall);
  const bc = median(p[BPFTOOL]!.cpu);
  const rows: [string, string, string, string, string][] = [];
  const ratio = (x: number, base: number) => `${(x / base).toFixed(2)}×`;
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const w = (n: string) => median(p[n]!.wall);
  const c = (n: string) => median(p[n]!.cpu);
  const peak = (n: string) => median(p[n]!.peakKiB);
  rows.push([`\`${BPFTOOL}\` wall / CPU / peak`, `${ms(bw)} / ${ms(bc)} / ${MiB(peak(BPFTOOL))}`, '1.00×', '', '']);
  rows.push([`\`${TABLES}\` wall`, ms(w(TABLES)), ratio(w(TABLES), bw), '≤ 1.0×', verdict(w(TABLES) <= bw)]);
  rows.push(['same, CPU (user+sys)', ms(c(TABLES)), ratio(c(TABLES), bc), '≤ 2.0×', verdict(c(TABLES) <= 2 * bc)]);
  rows.push(['same, peak RSS', MiB(peak(TABLES)), '', '≤ 70 MiB', verdict(peak(TABLES) <= 70 * 1024)]);
  rows.push([
    `\`${TABLES_THREADS}\` (worker threads, not native-shim) wall / CPU / peak`,
    `${ms(w(TABLES_THREADS))} / ${ms(c(TABLES_THREADS))} / ${MiB(peak(TABLES_THREADS))}`,
    ratio(w(TABLES_THREADS), bw),
    '',
    '',
  ]);
  rows.push([`\`${FULL}\` wall`, ms(w(FULL)), ratio(w(FULL), bw), '≤ 2.0×', verdict(w(FULL) <= 2 * bw)]);
  rows.push([
    'same, CPU / peak RSS',
    `${ms(c(FULL))} / ${MiB(peak(FULL))}`,
    ratio(c(FULL), bc),
    '≤ 70 MiB peak',
    verdict(peak(FULL) <= 70 * 1024),
  ]);
  for (const f of [FLOOR_ROWS, FLOOR_WORKER, FLOOR_KOFFI, FLOOR_NODE])
    rows.push([f, `${ms(w(f))} wall, ${ms(c(f))} CPU, ${MiB(peak(f))}`, ratio(w(f), bw), '', '']);
  // The CLI probe's peak beside what Node alone and Node with koffi take (docs/probes.md, "Memory").
  const above = (n: string) => `+${((peak(n) - peak(FLOOR_KOFFI)) / 1024).toFixed(1)}`;
  rows.push([
    'peak RSS: `--tables-only` / full / floor node + koffi / floor node',
    `${MiB(peak(TABLES))} / ${MiB(peak(FULL))} / ${MiB(peak(FLOOR_KOFFI))} / ${MiB(peak(FLOOR_NODE))}`,
    `${above(TABLES)} / ${above(FULL)} MiB over node + koffi`,
    '≤ 70 MiB',
    verdict(peak(TABLES) <= 70 * 1024 && peak(FULL) <= 70 * 1024),
  ]);
  const mem = (s: Steady, what: string, target?: [number, number]) => {
    const steady = median(s.rss) / 2 ** 20;
    const hwm = s.hwm / 2 ** 20;
    const ok = target ? verdict(steady <= target[0] && hwm <= target[1]) : '';
    rows.push([
      `${what}: RSS steady / peak (VmHWM)`,
      `${steady.toFixed(1)} / ${hwm.toFixed(1)} MiB`,
      '',
      target ? `≤ ${target[0]} / ≤ ${target[1]} MiB` : '',
      ok,
    ]);
    if (s.firstPublish)
      rows.push([
        `${what}: a second after its first publish (kernel view included), RSS / peak`,
        `${mib(s.firstPublish.rss)} / ${mib(s.firstPublish.hwm)}, ${s.firstPublish.seconds.toFixed(1)} s after spawn`,
        '',
        '',
        '',
      ]);
    if (s.exitCode !== 0) failed++;
    if (s.published === false) rows.push([`${what}: NOTHING PUBLISHED before the window`, '', '', '', 'check']);
  };
  mem(serve, '`serve`, this checkout', [80, 130]);
  mem(daemon, '`daemon`, this checkout (client-node as installed)');
  mem(imageServe, '`serve`, dependencies bundled as in the image', [80, 130]);
  mem(imageDaemon, '`daemon`, dependencies bundled as in the image', [90, 130]);
  let prev: number | undefined;
  for (const s of imports) {
    rows.push([
      `import: ${s.name}`,
      `${s.rssMiB.toFixed(1)} MiB RSS (${s.anonMiB.toFixed(1)} anon)`,
      prev === undefined ? '' : `${s.rssMiB - prev >= 0 ? '+' : ''}${(s.rssMiB - prev).toFixed(1)} MiB`,
      '',
      '',
    ]);
    prev = s.rssMiB;
  }
  console.log(`\nbpfready footprint and speed on Linux ${release()}, ${availableParallelism()} CPUs, Node ${process.versions.node}`);
  console.log(
    `${runs} alternating runs of each command (medians); daemon windows of ${steadySeconds} s after ready, re-probing every 20 s; load average (1, 5, 15 min) ${loadBefore} at the start, ${loadAfter} at the end\n`,
  );
  const head: [string, string, string, string, string] = ['figure', 'bpfready', 'vs bpftool / step', 'target', ''];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(width[i]!)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${width.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

const scripts: [string, string[]][] = [
  ['attach-breakdown.ts', []],
  ['btf-parse.ts', []],
  ['daemon-ready.ts', []],
  ['kube-scale.ts', []],
  ...(process.env['BENCH_SOAK'] ? ([['soak.ts', []]] as [string, string[]][]) : []),
];
for (const [script, args] of scripts) {
  const path = `${here}${script}`;
  if (!existsSync(path)) continue;
  console.log(`\n=== bench/${script}`);
  const r = spawnSync(process.execPath, [path, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
