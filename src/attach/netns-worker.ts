// Runs inside a worker thread that has left the node's network namespace. unshare(CLONE_NEWNET)
// moves only the calling thread (Node is multi-threaded), so this thread, and nothing else, sees a
// fresh namespace whose only device is a down `lo`, ifindex 1. The thread exits after its answer,
// and the namespace, with anything attached in it, dies with it.
//
// Before that, the files the parent asks for that are only readable through a private mount (the
// tracepoint id in tracefs, lockdown and the LSM list in securityfs, when the node has not mounted
// them): the thread leaves the node's mount namespace too (unshare(CLONE_NEWNS), every mount made
// private before anything is mounted, as `unshare -m --propagation private` does), mounts, reads
// and unmounts. That spares the section a child process of four programs per file (~30 ms idle,
// far more on a busy node; docs/probes.md#attach-section). What cannot be read here the parent
// reads the old way, so a failure says what it said before.
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Fact, FactSection } from '../contract/report.ts';
import { linkCreate, progLoad } from '../native/bpf.ts';
import { RETURN_ZERO } from '../native/insn.ts';
import { mount, MNT_DETACH, MS_PRIVATE, MS_REC, SYS_unshare, syscallLongs, umount2 } from '../native/libc.ts';
import { probeError, supported } from '../contract/result.ts';
import { PROG_NAME } from './context.ts';
import { configState, kernelConfig, privateReadKey } from './env.ts';
import { attachFailure, ENODEV } from './outcome.ts';
import { attachType, progType } from '../native/uapi.ts';

const CLONE_NEWNET = 0x40000000;
const CLONE_NEWNS = 0x00020000;
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
  /** Files to read through a private mount of their filesystem, e.g. ['tracefs', 'events/sched/x/id']. */
  reads?: [fsType: string, rel: string][];
}

/** The worker's two messages: the files it read, by privateReadKey (first, as soon as it has them), then the hooks. */
export type NetnsWorkerMessage = { reads: Record<string, string> } | { hooks: FactSection };

/** The texts of the files that could be read, by privateReadKey; the others are left out. */
function readPrivately(reads: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!reads.length) return out;
  if (!syscallLongs(SYS_unshare, CLONE_NEWNS).ok) return out;
  // Nothing is mounted unless every mount of the copy is private: a mount under a shared one would
  // propagate to the node's namespace.
  if (!mount('none', '/', null, MS_REC | MS_PRIVATE).ok) return out;
  for (const fsType of new Set(reads.map(([fs]) => fs))) {
    // Nothing here may throw past this loop: the thread still has the network hooks to probe. What
    // is not read here is left to the parent's child process, whose failure names the reason as it
    // always has.
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(tmpdir(), `bpfready-${fsType}-`));
      if (!mount('nodev', dir, fsType, 0).ok) continue;
      for (const [fs, rel] of reads) {
        if (fs !== fsType) continue;
        try {
          out[privateReadKey(fs, rel)] = readFileSync(join(dir, rel), 'utf8');
        } catch {}
      }
      umount2(dir, MNT_DETACH);
    } catch {
    } finally {
      try {
        if (dir) rmdirSync(dir);
      } catch {}
    }
  }
  return out;
}

/** "CONFIG_NETKIT is not set" when the running kernel's config says so (context.ts unsetOption). */
function netkitUnset(hostRoot: string): string | undefined {
  return configState(kernelConfig(hostRoot, release()), 'CONFIG_NETKIT') === 'unset' ? 'CONFIG_NETKIT is not set' : undefined;
}

/** Loads a `return 0` program, links it to lo of this private namespace and detaches it at once. */
function linkOnLo(
  load: { progType: number; expectedAttachType?: number; what: string },
  link: { attachType: number; flags?: number; what: string; missing: string },
  supportedAs: string,
): Fact {
  const loaded = progLoad({
    name: PROG_NAME,
    progType: load.progType,
    insns: RETURN_ZERO,
    ...(load.expectedAttachType === undefined ? {} : { expectedAttachType: load.expectedAttachType }),
  });
  if (!loaded.ok) return attachFailure(loaded.errno, { step: `PROG_LOAD(${load.what})`, needs: NET_CAPS });
  using prog = loaded.fd;
  const linked = linkCreate({
    prog_fd: prog.fd,
    target_fd: LO,
    attach_type: link.attachType,
    ...(link.flags ? { flags: link.flags } : {}),
  });
  if (!linked.ok)
    return attachFailure(linked.errno, {
      step: `LINK_CREATE(${link.what}) on lo of a private netns`,
      needs: NET_CAPS,
      missing: link.missing,
    });
  linked.fd.close();
  return supported(supportedAs);
}

const tcx = (): Fact =>
  linkOnLo(
    { progType: PROG_SCHED_CLS, what: 'sched_cls' },
    { attachType: BPF_TCX_INGRESS, what: 'BPF_TCX_INGRESS', missing: 'no tcx (6.6+)' },
    'tcx ingress link on lo of a private network namespace, detached at once',
  );

const xdpGeneric = (): Fact =>
  linkOnLo(
    { progType: PROG_XDP, expectedAttachType: BPF_XDP, what: 'xdp' },
    {
      attachType: BPF_XDP,
      flags: XDP_FLAGS_SKB_MODE,
      what: 'BPF_XDP, XDP_FLAGS_SKB_MODE',
      missing: 'no XDP link (5.9+); the netlink attach path is not probed',
    },
    'generic (skb-mode) XDP link on lo of a private network namespace, detached at once',
  );

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

const data = (workerData ?? { hostRoot: '/' }) as NetnsWorkerData;
// The reads first: the tracepoint probe waits for its id.
parentPort?.postMessage({ reads: readPrivately(data.reads ?? []) } satisfies NetnsWorkerMessage);
parentPort?.postMessage({ hooks: run(data) } satisfies NetnsWorkerMessage);
