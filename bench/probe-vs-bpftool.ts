// `bpfready probe` against `bpftool feature probe full` on this machine: whole commands, alternating
// runs so that background load hits both alike; median of N runs each. Wall time is measured here,
// CPU (user + sys) and peak RSS by GNU time (`/usr/bin/time`, Debian's `time` package) from the
// kernel's own accounting of each finished run.
// Usage: node bench/probe-vs-bpftool.ts [runs=7]
// The floor lines are not product commands: bench/floor/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './daemon-common.ts';

const root = new URL('..', import.meta.url).pathname;
const node = `${root}node_modules/node/bin/node`;
const GNU_TIME = '/usr/bin/time';

export const BPFTOOL = 'bpftool feature probe full -j';
export const TABLES = 'bpfready probe --json --tables-only';
export const FULL = 'bpfready probe --json';
/** The same tables with the helper loads on worker threads instead of native-shim's loaders. */
export const TABLES_THREADS = 'bpfready probe --json --tables-only --workers 1';
export const FLOOR_ROWS = "floor: bpftool's helper loads from Node";
export const FLOOR_NODE = 'floor: node start, nothing run';
export const FLOOR_KOFFI = 'floor: node + koffi and our libc bindings loaded';
export const FLOOR_WORKER = 'floor: node + one worker thread with koffi';

/**
 * The node flags bin/bpfready gives the one-shot commands (probe, check): the floors run with them,
 * so that their memory is what the product's would be with nothing else done.
 */
export function oneshotNodeFlags(): string[] {
  const launcher = readFileSync(`${root}bin/bpfready`, 'utf8');
  const base = /^flags="([^"$]+)"$/m.exec(launcher);
  const oneshot = /^oneshot_flags="\$flags ?([^"]*)"$/m.exec(launcher);
  if (!base || !oneshot) throw new Error('bin/bpfready: no one-shot flags lines (flags=, oneshot_flags=) found');
  return [...base[1]!.split(/\s+/), ...oneshot[1]!.split(/\s+/)].filter(Boolean);
}
const oneshot = oneshotNodeFlags();

export const COMMANDS: Record<string, [string, string[]]> = {
  [BPFTOOL]: ['bpftool', ['feature', 'probe', 'full', '-j']],
  [TABLES]: [`${root}bin/bpfready`, ['probe', '--json', '--tables-only']],
  [TABLES_THREADS]: [`${root}bin/bpfready`, ['probe', '--json', '--tables-only', '--workers', '1']],
  [FULL]: [`${root}bin/bpfready`, ['probe', '--json']],
  // Not product commands: the least a Node process of ours takes for bpftool's own helper loads
  // (bench/floor/rows.ts), for starting at all, for loading koffi and the bpf() gateway every probe
  // loads (bench/floor/koffi.ts), and for starting the one worker thread the helper matrix uses on
  // two CPUs without native-shim (bench/floor/worker.ts), so that the ratios and peaks above can be
  // read against what the runtime allows. All with the one-shot commands' node flags.
  [FLOOR_ROWS]: [node, [...oneshot, `${root}bench/floor/rows.ts`]],
  [FLOOR_NODE]: [node, [...oneshot, '-e', '0']],
  [FLOOR_KOFFI]: [node, [...oneshot, `${root}bench/floor/koffi.ts`]],
  [FLOOR_WORKER]: [node, [...oneshot, `${root}bench/floor/worker.ts`]],
};

export interface Samples {
  wall: number[];
  cpu: number[];
  peakKiB: number[];
}

function run(cmd: string, args: string[], out: string): { wall: number; cpu: number; peakKiB: number } {
  const t0 = performance.now();
  const r = spawnSync(GNU_TIME, ['-o', out, '-f', '%U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const [user, sys, kib] = readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, cpu: user! + sys!, peakKiB: kib! };
}

/** Every command in turn, `runs` times (after one warm-up round), so a drift of the machine hits all alike. */
export function measure(runs: number, names = Object.keys(COMMANDS)): Record<string, Samples> {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing (Debian package time; scripts/test-setup.sh installs it)`);
  // The floors run with the compile cache and the malloc arenas the launcher gives the product (bin/bpfready).
  process.env.NODE_COMPILE_CACHE ??= `${process.env.TMPDIR ?? '/tmp'}/bpfready-node-compile-cache`;
  process.env.MALLOC_ARENA_MAX ??= '2';
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-bench-'));
  const out = join(dir, 'time');
  try {
    const samples: Record<string, Samples> = Object.fromEntries(names.map((k) => [k, { wall: [], cpu: [], peakKiB: [] }]));
    for (const name of names) run(...COMMANDS[name]!, out); // warm the page cache once
    for (let i = 0; i < runs; i++) {
      for (const name of names) {
        const s = run(...COMMANDS[name]!, out);
        samples[name]!.wall.push(s.wall);
        samples[name]!.cpu.push(s.cpu);
        samples[name]!.peakKiB.push(s.peakKiB);
      }
    }
    return samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  if (process.geteuid?.() !== 0) {
    console.log('probe-vs-bpftool: needs root (both tools load programs); skipped');
    process.exit(0);
  }
  const runs = Number(process.argv[2] ?? 7);
  const samples = measure(runs);
  const base = samples[BPFTOOL]!;
  console.log(`probe vs bpftool on Linux ${release()}, ${runs} alternating runs each, whole commands, medians`);
  for (const [name, s] of Object.entries(samples)) {
    const w = median(s.wall);
    const c = median(s.cpu);
    console.log(
      `  ${name.padEnd(44)} wall ${(w * 1000).toFixed(0).padStart(5)} ms (${(w / median(base.wall)).toFixed(2)}x)  cpu ${(c * 1000).toFixed(0).padStart(5)} ms (${(c / median(base.cpu)).toFixed(2)}x)  peak ${(median(s.peakKiB) / 1024).toFixed(1)} MiB`,
    );
  }
}
