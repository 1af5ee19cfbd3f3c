// Attachability: can a loaded program actually be hung on its hook on this node? Every probe
// attaches a `return 0` (or `return 1` = pass) program to a hook nobody uses, or in a private network
// namespace, and detaches at once; nothing the node does changes. See docs/attach.md.
import { release } from 'node:os';
import type { FactSection } from '../contract/report.ts';
import { loadVmlinuxBtf, type Btf } from '../kernel/btf.ts';
import { probeCgroup } from './cgroup.ts';
import type { AttachContext } from './context.ts';
import { effectiveCaps, kernelConfig } from './env.ts';
import { probeNetworkHooks } from './netns.ts';
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
  /** vmlinux BTF, if the caller already parsed it. */
  btf?: Btf;
}

export function attachContext(opts: AttachOptions = {}): AttachContext {
  const hostRoot = opts.hostRoot ?? '/';
  let btf = opts.btf;
  let btfMissing: string | undefined;
  if (!btf) {
    try {
      btf = loadVmlinuxBtf(hostRoot);
    } catch (e) {
      btfMissing = e instanceof Error ? e.message : String(e);
    }
  }
  return {
    hostRoot,
    btf,
    ...(btfMissing ? { btfMissing } : {}),
    config: kernelConfig(hostRoot, release()),
    caps: effectiveCaps(),
  };
}

export async function probeAttach(opts: AttachOptions = {}): Promise<FactSection> {
  const ctx = attachContext(opts);
  const out: FactSection = {
    kprobe: probeKprobe(ctx, false),
    kretprobe: probeKprobe(ctx, true),
    kprobe_multi: probeKprobeMulti(ctx),
    uprobe: probeUprobe(ctx),
    uprobe_multi: probeUprobeMulti(ctx),
    tracepoint: probeTracepoint(ctx),
    raw_tracepoint: probeRawTracepoint(ctx),
    tp_btf: probeTpBtf(ctx),
    fentry: probeTrampoline(ctx, 'fentry'),
    fexit: probeTrampoline(ctx, 'fexit'),
    fmod_ret: probeTrampoline(ctx, 'fmod_ret'),
    lsm: probeTrampoline(ctx, 'lsm'),
    cgroup: probeCgroup(ctx),
    ...(await probeNetworkHooks(ctx)),
    struct_ops: probeStructOps(ctx),
    perf_link: probePerfLink(),
    iter: probeIter(ctx),
  };
  // Same key order as ATTACH_KEYS whatever the probes returned.
  return Object.fromEntries(ATTACH_KEYS.map((k) => [k, out[k]!]));
}
