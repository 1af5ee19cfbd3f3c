// Runs inside a worker thread that has left the node's network namespace. unshare(CLONE_NEWNET)
// moves only the calling thread (Node is multi-threaded), so this thread, and nothing else, sees a
// fresh namespace whose only device is a down `lo`, ifindex 1. The thread exits after one message,
// and the namespace, with anything attached in it, dies with it.
import { release } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Fact, FactSection } from '../contract/report.ts';
import { linkCreate, progLoad } from '../native/bpf.ts';
import { RETURN_ZERO } from '../native/insn.ts';
import { SYS_unshare, syscallLongs } from '../native/libc.ts';
import { probeError, supported } from '../contract/result.ts';
import { PROG_NAME } from './context.ts';
import { configState, kernelConfig } from './env.ts';
import { attachFailure, ENODEV } from './outcome.ts';
import { attachType, progType } from '../native/uapi.ts';

const CLONE_NEWNET = 0x40000000;
const LO = 1;
const PROG_SCHED_CLS = progType('sched_cls');
const PROG_XDP = progType('xdp');
const BPF_XDP = attachType('xdp');
const BPF_TCX_INGRESS = attachType('tcx_ingress');
const BPF_NETKIT_PRIMARY = attachType('netkit_primary');
const XDP_FLAGS_SKB_MODE = 1 << 1;
const NET_CAPS = ['CAP_BPF', 'CAP_NET_ADMIN'] as const;

export interface NetnsWorkerData {
  hostRoot: string;
}

/** "CONFIG_NETKIT is not set" when the running kernel's config says so (context.ts unsetOption). */
function netkitUnset(hostRoot: string): string | undefined {
  return configState(kernelConfig(hostRoot, release()), 'CONFIG_NETKIT') === 'unset' ? 'CONFIG_NETKIT is not set' : undefined;
}

function tcx(): Fact {
  const load = progLoad({ name: PROG_NAME, progType: PROG_SCHED_CLS, insns: RETURN_ZERO });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(sched_cls)', needs: NET_CAPS });
  using prog = load.fd;
  const link = linkCreate({ prog_fd: prog.fd, target_fd: LO, attach_type: BPF_TCX_INGRESS });
  if (!link.ok)
    return attachFailure(link.errno, {
      step: 'LINK_CREATE(BPF_TCX_INGRESS) on lo of a private netns',
      needs: NET_CAPS,
      missing: 'no tcx (6.6+)',
    });
  link.fd.close();
  return supported('tcx ingress link on lo of a private network namespace, detached at once');
}

function xdpGeneric(): Fact {
  const load = progLoad({ name: PROG_NAME, progType: PROG_XDP, insns: RETURN_ZERO, expectedAttachType: BPF_XDP });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(xdp)', needs: NET_CAPS });
  using prog = load.fd;
  const link = linkCreate({ prog_fd: prog.fd, target_fd: LO, attach_type: BPF_XDP, flags: XDP_FLAGS_SKB_MODE });
  if (!link.ok) {
    return attachFailure(link.errno, {
      step: 'LINK_CREATE(BPF_XDP, XDP_FLAGS_SKB_MODE) on lo of a private netns',
      needs: NET_CAPS,
      missing: 'no XDP link (5.9+); the netlink attach path is not probed',
    });
  }
  link.fd.close();
  return supported('generic (skb-mode) XDP link on lo of a private network namespace, detached at once');
}

/**
 * netkit without creating a netkit device (that needs rtnetlink): a kernel with netkit looks the
 * ifindex up and answers ENODEV for one that does not exist; without CONFIG_NETKIT the attach type
 * is rejected with EINVAL first (cilium features/link.go).
 */
function netkit(data: NetnsWorkerData): Fact {
  const load = progLoad({ name: PROG_NAME, progType: PROG_SCHED_CLS, insns: RETURN_ZERO });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(sched_cls)', needs: NET_CAPS });
  using prog = load.fd;
  const link = linkCreate({ prog_fd: prog.fd, target_fd: -1, attach_type: BPF_NETKIT_PRIMARY });
  if (link.ok) {
    link.fd.close();
    return probeError(undefined, 'LINK_CREATE(BPF_NETKIT_PRIMARY) on ifindex -1 succeeded');
  }
  if (link.errno === ENODEV)
    return supported('method: LINK_CREATE(BPF_NETKIT_PRIMARY) on a missing ifindex answered ENODEV (no netkit device created)');
  return attachFailure(link.errno, {
    step: 'method: LINK_CREATE(BPF_NETKIT_PRIMARY) on a missing ifindex',
    needs: NET_CAPS,
    missing: netkitUnset(data.hostRoot) ?? 'no netkit (6.7+, CONFIG_NETKIT)',
  });
}

function run(data: NetnsWorkerData): FactSection {
  const r = syscallLongs(SYS_unshare, CLONE_NEWNET);
  if (!r.ok) {
    const f = attachFailure(r.errno, {
      step: 'unshare(CLONE_NEWNET)',
      needs: [],
      denied:
        'needs CAP_SYS_ADMIN to create the private network namespace the probe runs in (the hooks themselves need CAP_BPF + CAP_NET_ADMIN)',
    });
    return { tcx: f, netkit: f, xdp_generic: f };
  }
  return { tcx: tcx(), netkit: netkit(data), xdp_generic: xdpGeneric() };
}

parentPort?.postMessage(run((workerData ?? { hostRoot: '/' }) as NetnsWorkerData));
