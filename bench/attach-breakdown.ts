// Where the attach section's time goes (issue 20): each attach probe of src/attach/index.ts timed on
// its own, in the order probeAttach runs them, on this thread (the product runs the section in a
// worker beside the helper matrix: the worker's start is measured by bench/probe-vs-bpftool.ts's
// floor line). Wall time per probe, median of N rounds; the first round also shows the cold costs
// (vmlinux BTF, the kernel config, the private tracefs mount).
// Run as root: node_modules/.bin/node bench/attach-breakdown.ts [rounds=5]
import { attachContext } from '../src/attach/index.ts';
import { probeCgroup } from '../src/attach/cgroup.ts';
import { probeNetworkHooks } from '../src/attach/netns.ts';
import { probeKprobe, probeKprobeMulti, probePerfLink, probeTracepoint, probeUprobe, probeUprobeMulti } from '../src/attach/perf-probes.ts';
import { probeIter, probeRawTracepoint, probeStructOps, probeTpBtf, probeTrampoline } from '../src/attach/tracing.ts';
import type { AttachContext } from '../src/attach/context.ts';
import { median, requireRoot } from './daemon-common.ts';

export type Step = [string, (ctx: AttachContext) => unknown];
export const STEPS: Step[] = [
  ['kprobe', (c) => probeKprobe(c, false)],
  ['kretprobe', (c) => probeKprobe(c, true)],
  ['kprobe_multi', probeKprobeMulti],
  ['uprobe', probeUprobe],
  ['uprobe_multi', probeUprobeMulti],
  ['tracepoint', probeTracepoint],
  ['raw_tracepoint', probeRawTracepoint],
  ['tp_btf', probeTpBtf],
  ['fentry', (c) => probeTrampoline(c, 'fentry')],
  ['fexit', (c) => probeTrampoline(c, 'fexit')],
  ['fmod_ret', (c) => probeTrampoline(c, 'fmod_ret')],
  ['lsm', (c) => probeTrampoline(c, 'lsm')],
  ['cgroup', probeCgroup],
  ['tcx, netkit, xdp_generic (network namespace worker)', (c) => probeNetworkHooks(c)],
  ['struct_ops', probeStructOps],
  ['perf_link', () => probePerfLink()],
  ['iter', probeIter],
];

export async function attachBreakdown(rounds: number): Promise<{ name: string; first: number; median: number }[]> {
  const times = new Map<string, number[]>();
  const add = (k: string, ms: number) => times.set(k, [...(times.get(k) ?? []), ms]);
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    const ctx = attachContext();
    add('context (vmlinux BTF, kernel config, capabilities)', performance.now() - t);
    for (const [name, f] of STEPS) {
      t = performance.now();
      await f(ctx);
      add(name, performance.now() - t);
    }
  }
  return [...times].map(([name, ms]) => ({ name, first: ms[0]!, median: median(ms.slice(1).length ? ms.slice(1) : ms) }));
}

if (import.meta.main) {
  requireRoot();
  const rounds = Number(process.argv[2] ?? 5);
  const rows = await attachBreakdown(rounds);
  const total = (k: 'first' | 'median') => rows.reduce((s, r) => s + r[k], 0);
  console.log(`attach section, ${rounds} rounds on this thread: first round, then the median of the others (ms)`);
  for (const r of [...rows].sort((a, b) => b.first - a.first))
    console.log(`  ${r.name.padEnd(54)} ${r.first.toFixed(1).padStart(7)} ${r.median.toFixed(1).padStart(7)}`);
  console.log(`  ${'total'.padEnd(54)} ${total('first').toFixed(1).padStart(7)} ${total('median').toFixed(1).padStart(7)}`);
}
