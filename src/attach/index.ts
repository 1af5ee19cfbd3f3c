// Attachability: can a loaded program actually be hung on its hook on this node? Every probe
// attaches a `return 0` (or `return 1` = pass) program to a hook nobody uses, or in a private network
// namespace, and detaches at once; nothing the node does changes. See docs/attach.md.
import { release } from 'node:os';
import type { Fact, FactSection } from '../contract/report.ts';
import { loadVmlinuxBtf } from '../kernel/btf.ts';
import { answeredBtf, askAttachBtf } from './btf-answers.ts';
import { probeCgroup } from './cgroup.ts';
import { closeNow, DeferredCloses, type FdCloser } from './closer.ts';
import type { AttachBtf, AttachContext } from './context.ts';
import { effectiveCaps, kernelConfig } from './env.ts';
import { NETNS_KEYS, probeNetworkHooks, startAttachWorker, type NamespaceWorker } from './netns.ts';
import { probeKprobe, probeKprobeMulti, probePerfLink, probeTracepoint, probeUprobe, probeUprobeMulti } from './perf-probes.ts';
import { probeIter, probeRawTracepoint, probeStructOps, probeTpBtf, probeTrampoline } from './tracing.ts';

export const ATTACH_KEYS = [
  'kprobe',
  'kretprobe',
  'kprobe_multi',
  'uprobe',
  'uprobe_multi',
  'tracepoint',
  'raw_tracepoint',
  'tp_btf',
  'fentry',
  'fexit',
  'fmod_ret',
  'lsm',
  'cgroup',
  'tcx',
  'netkit',
  'xdp_generic',
  'struct_ops',
  'perf_link',
  'iter',
] as const;

export interface AttachOptions {
  /** Where the host's /proc, /sys, /boot and /lib/modules are mounted (a DaemonSet's /host). */
  hostRoot?: string;
  /**
   * vmlinux BTF, if the caller has it: the answers to the attach probes' questions (btf-answers.ts),
   * or why there are none. Asked for when the probes start, so a caller may still be answering it
   * when it calls probeAttach. Default: vmlinux BTF is read here.
   */
  vmlinuxBtf?: () => { btf: AttachBtf } | { btfMissing: string };
  /**
   * One probe after the other, each fd closed at once, as before the lanes: the reference the lanes
   * are tested against (test/kernel/attach-lanes.test.ts) and what bench/attach-breakdown.ts times.
   */
  sequential?: boolean;
  /**
   * The worker thread for the network hooks and the private reads, if the caller started it ahead
   * (netns.ts startAttachWorker): its start is the section's longest wait.
   */
  namespaceWorker?: NamespaceWorker;
}

export function attachContext(opts: AttachOptions = {}): AttachContext {
  const hostRoot = opts.hostRoot ?? '/';
  const given = opts.vmlinuxBtf?.();
  let btf = given && 'btf' in given ? given.btf : undefined;
  let btfMissing = given && 'btfMissing' in given ? given.btfMissing : undefined;
  if (!given) {
    try {
      // One pass over the types for our few names, no name index; the parsed BTF is not kept.
      btf = answeredBtf(askAttachBtf(loadVmlinuxBtf(hostRoot)));
    } catch (e) {
      btfMissing = e instanceof Error ? e.message : String(e);
    }
  }
  return {
    hostRoot,
    btf,
    ...(btfMissing !== undefined ? { btfMissing } : {}),
    config: kernelConfig(hostRoot, release()),
    caps: effectiveCaps(),
  };
}

export type AttachProbe = (ctx: AttachContext, closer: FdCloser) => Fact | Promise<Fact>;
export type AttachLane = readonly (readonly [AttachKey, AttachProbe])[];

/**
 * The attach probes in lanes (docs/probes.md#attach-section). A lane's probes run one after the
 * other, each after the fds of the one before are closed: probes on the same kernel function, or
 * whose evidence depends on each other (the trampoline EPERM diagnosis counts loaded LSM programs,
 * which the lsm probe loads), share a lane. Lanes run at once: while one waits for the kernel's
 * detach work or a child process, the others go on.
 */
export const LANES: readonly AttachLane[] = [
  [
    ['kprobe', (c, cl) => probeKprobe(c, false, cl)],
    ['kretprobe', (c, cl) => probeKprobe(c, true, cl)],
    ['kprobe_multi', probeKprobeMulti],
    ['fentry', (c, cl) => probeTrampoline(c, 'fentry', cl)],
    ['fexit', (c, cl) => probeTrampoline(c, 'fexit', cl)],
    ['fmod_ret', (c, cl) => probeTrampoline(c, 'fmod_ret', cl)],
    ['lsm', (c, cl) => probeTrampoline(c, 'lsm', cl)],
  ],
  [['uprobe', probeUprobe]],
  [['uprobe_multi', probeUprobeMulti]],
  [['tracepoint', probeTracepoint]],
  // The same tracepoint as the perf one above, through other registrations of their own (each a
  // probe function and data pair of its own on sched_process_exec): not waiting for the perf
  // event's id and detach spares the section ~50–100 ms.
  [
    ['raw_tracepoint', probeRawTracepoint],
    ['tp_btf', probeTpBtf],
  ],
  [['cgroup', (c) => probeCgroup(c)]],
  [
    ['struct_ops', (c) => probeStructOps(c)],
    ['perf_link', () => probePerfLink()],
    ['iter', probeIter],
  ],
];

export type AttachKey = (typeof ATTACH_KEYS)[number];

/**
 * Run lanes at once, each lane's probes in turn with their fds closed on libuv's pool before the
 * lane's next probe. Resolves when every lane has settled and every fd is closed; rejects with the
 * first lane's error only then.
 */
export async function runLanes(
  ctx: AttachContext,
  lanes: readonly AttachLane[],
  alongside: Promise<FactSection>[] = [],
): Promise<FactSection> {
  const out: FactSection = {};
  const run = async (lane: AttachLane): Promise<FactSection> => {
    const closes = new DeferredCloses();
    try {
      for (const [key, probe] of lane) {
        out[key] = await probe(ctx, closes);
        await closes.drain();
      }
    } finally {
      // A probe that threw still leaves no fd behind.
      await closes.drain();
    }
    return {};
  };
  const settled = await Promise.allSettled([...alongside, ...lanes.map(run)]);
  for (const s of settled) {
    if (s.status === 'rejected') throw s.reason;
    Object.assign(out, s.value);
  }
  return out;
}

/**
 * The attach section. Its longest wait starts at once: the worker thread for the network hooks,
 * which also reads the tracefs and securityfs files the node has not mounted. The probes themselves
 * start when the caller's synchronous work is done — in probe(), once the tables wait for the helper
 * matrix (docs/probes.md#attach-section).
 */
export async function probeAttach(opts: AttachOptions = {}): Promise<FactSection> {
  const hostRoot = opts.hostRoot ?? '/';
  let out: FactSection = {};
  if (opts.sequential) {
    const ctx = attachContext(opts);
    // ATTACH_KEYS order, the network hooks where they stand in it.
    const byKey = new Map(LANES.flat());
    for (const key of ATTACH_KEYS) {
      if (key === NETNS_KEYS[0]) Object.assign(out, await probeNetworkHooks(hostRoot));
      const probe = byKey.get(key);
      if (probe) out[key] = await probe(ctx, closeNow);
    }
  } else {
    const worker = opts.namespaceWorker ?? startAttachWorker(hostRoot);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      out = await runLanes({ ...attachContext(opts), privately: worker.read }, LANES, [worker.hooks]);
    } finally {
      // Even when the context could not be made, the worker thread is gone before we return.
      await worker.hooks;
    }
  }
  // Same key order as ATTACH_KEYS whatever the probes returned.
  return Object.fromEntries(ATTACH_KEYS.map((k) => [k, out[k]!]));
}
