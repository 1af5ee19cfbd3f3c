// `bpfready probe` against `bpftool feature probe full` on this machine: whole commands, wall time,
// alternating runs so that background load hits both alike; median of N runs each.
// Usage: node bench/probe-vs-bpftool.ts [runs=7]
// The last line is a floor, not a product command: bench/floor/rows.ts.
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';

const runs = Number(process.argv[2] ?? 7);
const root = new URL('..', import.meta.url).pathname;

const commands: Record<string, [string, string[]]> = {
  'bpftool feature probe full -j': ['bpftool', ['feature', 'probe', 'full', '-j']],
  'bpfready probe --json --tables-only': [`${root}bin/bpfready`, ['probe', '--json', '--tables-only']],
  'bpfready probe --json (everything)': [`${root}bin/bpfready`, ['probe', '--json']],
  // Not a product command: the least a Node process of ours takes for bpftool's own helper loads
  // (bench/floor/rows.ts), so the ratio above can be read against what the runtime allows.
  'floor: bpftool\'s helper loads from Node': [`${root}node_modules/node/bin/node`, ['--disable-warning=ExperimentalWarning', `${root}bench/floor/rows.ts`]],
};
// The floor runs with the compile cache the launcher gives the product (bin/bpfready).
process.env.NODE_COMPILE_CACHE ??= `${process.env.TMPDIR ?? '/tmp'}/bpfready-node-compile-cache`;

function time(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (process.geteuid?.() !== 0) {
  console.log('probe-vs-bpftool: needs root (both tools load programs); skipped');
  process.exit(0);
}
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
for (const [cmd, args] of Object.values(commands)) time(cmd, args); // warm the page cache once
for (let i = 0; i < runs; i++) for (const [name, [cmd, args]] of Object.entries(commands)) samples[name]!.push(time(cmd, args));

const base = median(samples['bpftool feature probe full -j']!);
console.log(`probe vs bpftool on Linux ${release()}, ${runs} alternating runs each, wall time of the whole command`);
for (const [name, xs] of Object.entries(samples)) {
  const m = median(xs);
  console.log(`  ${name.padEnd(42)} median ${m.toFixed(0).padStart(5)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})  ratio ${(m / base).toFixed(2)}x`);
}
