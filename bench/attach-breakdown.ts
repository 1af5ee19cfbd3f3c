// Where the attach section's time goes (issue 20, docs/probes.md#attach-section). First each attach
// probe of src/attach/index.ts timed on its own, one after the other, its fds closed at once (the
// sequential reference): wall time per probe, the first round (cold: kernel config, vmlinux BTF, the
// private tracefs mount) and the median of the others. Then the whole section both ways, alternating:
// sequential, and in lanes with the closes on libuv's pool as the product runs it; wall and CPU
// (this process's threads; the private-mount children apart), medians.
// Run as root: node_modules/.bin/node bench/attach-breakdown.ts [rounds=5]
import { cpuUsage } from 'node:process';
import { attachContext, probeAttach } from '../src/attach/index.ts';
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
  ['tcx, netkit, xdp_generic (network namespace worker)', (c) => probeNetworkHooks(c.hostRoot)],
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
    add('context (vmlinux BTF answers, kernel config, capabilities)', performance.now() - t);
    for (const [name, f] of STEPS) {
      t = performance.now();
      await f(ctx);
      add(name, performance.now() - t);
    }
  }
  return [...times].map(([name, ms]) => ({ name, first: ms[0]!, median: median(ms.slice(1).length ? ms.slice(1) : ms) }));
}

/** The whole section, sequential and in lanes, alternating: median wall and CPU (ms) of each. */
export async function sectionBothWays(rounds: number): Promise<Record<'sequential' | 'lanes', { wall: number; cpu: number }>> {
  const runs = { sequential: { wall: [] as number[], cpu: [] as number[] }, lanes: { wall: [] as number[], cpu: [] as number[] } };
  for (let i = 0; i < rounds; i++) {
    for (const mode of ['sequential', 'lanes'] as const) {
      const c0 = cpuUsage();
      const t = performance.now();
      await probeAttach({ sequential: mode === 'sequential' });
      runs[mode].wall.push(performance.now() - t);
      // All of this process's threads; the private-mount child processes are not in it.
      const c = cpuUsage(c0);
      runs[mode].cpu.push((c.user + c.system) / 1000);
    }
  }
  const m = (r: { wall: number[]; cpu: number[] }) => ({ wall: median(r.wall), cpu: median(r.cpu) });
  return { sequential: m(runs.sequential), lanes: m(runs.lanes) };
}

if (import.meta.main) {
  requireRoot();
  const rounds = Number(process.argv[2] ?? 5);
  const rows = await attachBreakdown(rounds);
  const total = (k: 'first' | 'median') => rows.reduce((s, r) => s + r[k], 0);
  console.log(`attach probes one after the other, ${rounds} rounds on this thread: first round, then the median of the others (ms)`);
  for (const r of [...rows].sort((a, b) => b.first - a.first))
    console.log(`  ${r.name.padEnd(60)} ${r.first.toFixed(1).padStart(7)} ${r.median.toFixed(1).padStart(7)}`);
  console.log(`  ${'total'.padEnd(60)} ${total('first').toFixed(1).padStart(7)} ${total('median').toFixed(1).padStart(7)}`);
  const both = await sectionBothWays(rounds);
  console.log(`the whole section (probeAttach), ${rounds} alternating rounds each way: median wall / CPU of this process (ms)`);
  for (const [mode, r] of Object.entries(both))
    console.log(`  ${mode.padEnd(60)} ${r.wall.toFixed(1).padStart(7)} ${r.cpu.toFixed(1).padStart(7)}`);
  console.log(`  ${'lanes / sequential, wall'.padEnd(60)} ${(both.lanes.wall / both.sequential.wall).toFixed(2).padStart(7)}`);
}
