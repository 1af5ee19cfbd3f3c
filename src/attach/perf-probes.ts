// Attach probes for the perf-event family: kprobe/kretprobe and uprobe through their PMUs, tracepoints
// through PERF_TYPE_TRACEPOINT, the multi-probe links, and the BPF_PERF_EVENT link type itself.
// Every program is `return 0`; every link or perf fd goes to the caller's closer (closer.ts), which
// closes it before the attach section returns.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fact } from '../contract/report.ts';
import { BtfKind } from '../kernel/btf.ts';
import { linkCreate, progLoad } from '../native/bpf.ts';
import { RETURN_ZERO } from '../native/insn.ts';
import { addressOf, errnoName } from '../native/libc.ts';
import { probeError, supported, unsupported } from '../contract/result.ts';
import { closeNow, held, type FdCloser } from './closer.ts';
import { config, missingOption, PROG_NAME, unsetOption, type AttachContext } from './context.ts';
import { pmuDirProblem, pmuRetprobeBit, pmuType, tracepointIdAsync } from './env.ts';
import { attachFailure, EBADF } from './outcome.ts';
import { HARMLESS_FUNC, PROBE_TRACEPOINT } from './targets.ts';
import { attachToPerfEvent, BPF_PERF_EVENT, perfEventOpen, PERF_TYPE_TRACEPOINT } from './perf.ts';
import { attachType, progType } from '../native/uapi.ts';

const PROG_KPROBE = progType('kprobe');
const PROG_TRACEPOINT = progType('tracepoint');
const BPF_TRACE_KPROBE_MULTI = attachType('trace_kprobe_multi');
const BPF_TRACE_UPROBE_MULTI = attachType('trace_uprobe_multi');
const PERF_CAPS = ['CAP_BPF', 'CAP_PERFMON'] as const;

/** HARMLESS_FUNC (targets.ts) when vmlinux BTF has it, else vprintk. */
export function harmlessSymbol(ctx: AttachContext): string {
  return ctx.btf?.findId(BtfKind.FUNC, HARMLESS_FUNC) !== undefined ? HARMLESS_FUNC : 'vprintk';
}

function loadKprobe(expectedAttachType?: number) {
  return progLoad({
    name: PROG_NAME,
    progType: PROG_KPROBE,
    insns: RETURN_ZERO,
    logLevel: 1,
    ...(expectedAttachType ? { expectedAttachType } : {}),
  });
}

export function probeKprobe(ctx: AttachContext, ret: boolean, closer: FdCloser = closeNow): Fact {
  const kind = ret ? 'kretprobe' : 'kprobe';
  const pmu = pmuType(ctx.hostRoot, 'kprobe');
  // Without CONFIG_KPROBES there is neither a kprobe PMU nor tracefs kprobe_events: that is true
  // whoever asks, so it is answered before the load (which needs CAP_BPF + CAP_PERFMON).
  if (pmu === undefined && config(ctx, 'CONFIG_KPROBES') === 'unset') {
    const loads = loadKprobe();
    // The kprobe program type only needs CONFIG_BPF_EVENTS, so it loads on such kernels.
    const note = loads.ok ? 'the kprobe program type loads, but' : `(the kprobe program load answered ${errnoName(loads.errno)})`;
    if (loads.ok) loads.fd.close();
    return unsupported(undefined, `CONFIG_KPROBES is not set: ${note} there is no kprobe PMU or kprobe_events to attach a ${kind} to`);
  }
  const load = loadKprobe();
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(kprobe)', needs: PERF_CAPS });
  using prog = load.fd;
  if (pmu === undefined) {
    // Kernels before 4.17 have kprobes only through tracefs kprobe_events; creating an event there
    // changes the node's tracing state, which this probe never does.
    const dir = pmuDirProblem(ctx.hostRoot);
    if (dir) return probeError(undefined, `the perf PMUs cannot be read: ${dir}`);
    return probeError(
      undefined,
      `no kprobe PMU (/sys/bus/event_source/devices/kprobe); CONFIG_KPROBES is ${config(ctx, 'CONFIG_KPROBES')}; the tracefs kprobe_events fallback is not probed`,
    );
  }
  let cfg = 0n;
  if (ret) {
    const bit = pmuRetprobeBit(ctx.hostRoot, 'kprobe');
    if (bit === undefined) return unsupported(undefined, 'the kprobe PMU has no format/retprobe bit');
    cfg = 1n << BigInt(bit);
  }
  const symbol = harmlessSymbol(ctx);
  const pe = perfEventOpen({ type: pmu, config: cfg, target: symbol });
  if (!pe.ok) {
    return attachFailure(pe.errno, {
      step: `perf_event_open(kprobe PMU, ${symbol})`,
      needs: ['CAP_PERFMON'],
      missing: missingOption(ctx, 'CONFIG_KPROBES'),
    });
  }
  using perf = held(pe.fd, closer);
  const a = attachToPerfEvent(prog.fd, perf.fd, closer);
  if (!a.ok) return attachFailure(a.errno!, { step: `${a.method} (${kind} ${symbol})`, needs: PERF_CAPS });
  return supported(`${kind} on ${symbol} via the kprobe PMU and ${a.method}, detached at once`);
}

export function probeKprobeMulti(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  const load = loadKprobe(BPF_TRACE_KPROBE_MULTI);
  if (!load.ok) {
    return attachFailure(load.errno, {
      step: 'PROG_LOAD(kprobe, BPF_TRACE_KPROBE_MULTI)',
      needs: PERF_CAPS,
      missing: 'the kernel does not know BPF_TRACE_KPROBE_MULTI (5.18+)',
    });
  }
  using prog = load.fd;
  const symbol = harmlessSymbol(ctx);
  const name = new TextEncoder().encode(`${symbol}\0`);
  const syms = new BigUint64Array([addressOf(name)]);
  const link = linkCreate({
    prog_fd: prog.fd,
    attach_type: BPF_TRACE_KPROBE_MULTI,
    kprobe_multi_cnt: 1,
    kprobe_multi_syms: addressOf(new Uint8Array(syms.buffer)),
  });
  // The kernel read these through raw pointers: keep them alive until the call has returned.
  void name.length;
  void syms.length;
  if (!link.ok) {
    // Without CONFIG_FPROBE the kernel keeps the attach type but answers EOPNOTSUPP (5.18+).
    return attachFailure(link.errno, {
      step: `LINK_CREATE(BPF_TRACE_KPROBE_MULTI, ${symbol})`,
      needs: PERF_CAPS,
      missing: missingOption(ctx, 'CONFIG_FPROBE') ?? 'no kprobe_multi link (5.18+)',
    });
  }
  closer.close(link.fd);
  return supported(`kprobe_multi link on ${symbol}, detached at once`);
}

/** A file of our own to place uprobes on: nobody maps it, so no process ever hits the probe. */
function withProbeFile<T>(fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-uprobe-'));
  const path = join(dir, 'target');
  try {
    writeFileSync(path, new Uint8Array(64).fill(0x90)); // x86 NOPs; never executed
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function probeUprobe(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  const load = loadKprobe();
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(kprobe)', needs: PERF_CAPS });
  using prog = load.fd;
  const pmu = pmuType(ctx.hostRoot, 'uprobe');
  if (pmu === undefined) {
    const why = unsetOption(ctx, 'CONFIG_UPROBE_EVENTS') ?? unsetOption(ctx, 'CONFIG_UPROBES');
    if (why) return unsupported(undefined, `${why}: no uprobe PMU`);
    const dir = pmuDirProblem(ctx.hostRoot);
    if (dir) return probeError(undefined, `the perf PMUs cannot be read: ${dir}`);
    return probeError(undefined, 'no uprobe PMU (/sys/bus/event_source/devices/uprobe); the tracefs uprobe_events fallback is not probed');
  }
  return withProbeFile((path) => {
    const pe = perfEventOpen({ type: pmu, config: 0n, target: path, offset: 0n });
    if (!pe.ok) return attachFailure(pe.errno, { step: 'perf_event_open(uprobe PMU)', needs: ['CAP_PERFMON'] });
    using perf = held(pe.fd, closer);
    const a = attachToPerfEvent(prog.fd, perf.fd, closer);
    if (!a.ok) return attachFailure(a.errno!, { step: `${a.method} (uprobe)`, needs: PERF_CAPS });
    return supported(`uprobe on a file of our own via the uprobe PMU and ${a.method}, detached at once`);
  });
}

export function probeUprobeMulti(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  const load = loadKprobe(BPF_TRACE_UPROBE_MULTI);
  if (!load.ok) {
    return attachFailure(load.errno, {
      step: 'PROG_LOAD(kprobe, BPF_TRACE_UPROBE_MULTI)',
      needs: PERF_CAPS,
      missing: 'the kernel does not know BPF_TRACE_UPROBE_MULTI (6.6+)',
    });
  }
  using prog = load.fd;
  return withProbeFile((path) => {
    const cpath = new TextEncoder().encode(`${path}\0`);
    const offsets = new BigUint64Array([0n]);
    const link = linkCreate({
      prog_fd: prog.fd,
      attach_type: BPF_TRACE_UPROBE_MULTI,
      uprobe_multi_path: addressOf(cpath),
      uprobe_multi_offsets: addressOf(new Uint8Array(offsets.buffer)),
      uprobe_multi_cnt: 1,
    });
    // Read by the kernel through raw pointers: alive until the call has returned.
    void cpath.length;
    void offsets.length;
    if (!link.ok) {
      return attachFailure(link.errno, {
        step: 'LINK_CREATE(BPF_TRACE_UPROBE_MULTI)',
        needs: PERF_CAPS,
        missing: missingOption(ctx, 'CONFIG_UPROBES') ?? 'no uprobe_multi link (6.6+)',
      });
    }
    closer.close(link.fd);
    return supported('uprobe_multi link on a file of our own, detached at once');
  });
}

export async function probeTracepoint(ctx: AttachContext, closer: FdCloser = closeNow): Promise<Fact> {
  const load = progLoad({ name: PROG_NAME, progType: PROG_TRACEPOINT, insns: RETURN_ZERO, logLevel: 1 });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(tracepoint)', needs: PERF_CAPS });
  using prog = load.fd;
  const { category, name } = PROBE_TRACEPOINT;
  const id = await tracepointIdAsync(category, name, ctx.privately);
  if (typeof id === 'string') {
    const why = unsetOption(ctx, 'CONFIG_TRACEPOINTS');
    return why ? unsupported(undefined, why) : probeError(undefined, id);
  }
  const pe = perfEventOpen({ type: PERF_TYPE_TRACEPOINT, config: BigInt(id.value) });
  if (!pe.ok) return attachFailure(pe.errno, { step: `perf_event_open(tracepoint ${category}/${name})`, needs: ['CAP_PERFMON'] });
  using perf = held(pe.fd, closer);
  const a = attachToPerfEvent(prog.fd, perf.fd, closer);
  if (!a.ok) return attachFailure(a.errno!, { step: `${a.method} (tracepoint)`, needs: PERF_CAPS });
  return supported(`${category}/${name} (id from ${id.via}) via ${a.method}, detached at once`);
}

/**
 * The BPF_PERF_EVENT link type (5.15+), by cilium's and libbpf's trick: a kernel that knows it looks
 * up the perf fd and answers EBADF for -1; one that does not rejects the attach type with EINVAL.
 */
export function probePerfLink(): Fact {
  const load = loadKprobe();
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(kprobe)', needs: PERF_CAPS });
  using prog = load.fd;
  const link = linkCreate({ prog_fd: prog.fd, target_fd: -1, attach_type: BPF_PERF_EVENT });
  if (link.ok) {
    link.fd.close();
    return probeError(undefined, 'LINK_CREATE(BPF_PERF_EVENT) accepted fd -1');
  }
  if (link.errno === EBADF) return supported('LINK_CREATE(BPF_PERF_EVENT) on fd -1 answered EBADF');
  return attachFailure(link.errno, {
    step: 'LINK_CREATE(BPF_PERF_EVENT)',
    needs: PERF_CAPS,
    missing: 'no BPF_PERF_EVENT link type (5.15+)',
  });
}
