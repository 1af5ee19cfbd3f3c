// perf_event_open(2) for the kprobe/uprobe PMUs and tracepoints (docs/kernel-notes.md#perf-pmu), and the two ways to
// hang a BPF program on a perf event: a BPF_PERF_EVENT link (5.15+) or PERF_EVENT_IOC_SET_BPF.
import { linkCreate, OwnedFd, type FdResult } from '../native/bpf.ts';
import { addressOf, ioctl, syscallBufFirst, SYS_perf_event_open, type SysResult } from '../native/libc.ts';
import { closeNow, type FdCloser } from './closer.ts';

export const PERF_TYPE_TRACEPOINT = 2;
const PERF_FLAG_FD_CLOEXEC = 8;
const PERF_EVENT_IOC_SET_BPF = 0x40042408;
export const BPF_PERF_EVENT = 41;

// struct perf_event_attr is 136 bytes in current headers; the kernel accepts any size >= VER0 (64)
// whose bytes past its own struct are zero, so a zeroed 128-byte attr works on old and new kernels.
const ATTR_SIZE = 128;

export interface PerfEventSpec {
  type: number;
  config: bigint;
  /** kprobe: symbol name; uprobe: file path (config1 points at it). */
  target?: string;
  /** kprobe: offset in the symbol; uprobe: file offset (config2). */
  offset?: bigint;
}

export function perfEventOpen(spec: PerfEventSpec): FdResult {
  const buf = new Uint8Array(ATTR_SIZE);
  const v = new DataView(buf.buffer);
  v.setUint32(0, spec.type, true);
  v.setUint32(4, ATTR_SIZE, true);
  v.setBigUint64(8, spec.config, true);
  v.setBigUint64(16, 1n, true); // sample_period: tracepoints need a non-zero period to fire BPF
  v.setUint32(48, 1, true); // wakeup_events
  const target = spec.target === undefined ? undefined : new TextEncoder().encode(`${spec.target}\0`);
  if (target) v.setBigUint64(56, addressOf(target), true);
  v.setBigUint64(64, spec.offset ?? 0n, true);
  // pid -1, cpu 0: a system-wide event on one CPU, as libbpf and cilium open kprobes and tracepoints.
  const r: SysResult = syscallBufFirst(SYS_perf_event_open, buf, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  void target?.length;
  return r.ok ? { ok: true, fd: new OwnedFd(r.value) } : r;
}

export interface PerfAttach {
  ok: boolean;
  errno?: number;
  /** "BPF_PERF_EVENT link" or "PERF_EVENT_IOC_SET_BPF". */
  method: string;
}

/**
 * Attach progFd to the perf event and detach at once. The link is tried first; kernels before 5.15
 * answer EINVAL for the BPF_PERF_EVENT attach type, and then the ioctl is the only way. The link goes
 * to `closer` (the detach is its close).
 */
export function attachToPerfEvent(progFd: number, perfFd: number, closer: FdCloser = closeNow): PerfAttach {
  const link = linkCreate({ prog_fd: progFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT });
  if (link.ok) {
    closer.close(link.fd);
    return { ok: true, method: 'BPF_PERF_EVENT link' };
  }
  if (link.errno !== 22) return { ok: false, errno: link.errno, method: 'BPF_PERF_EVENT link' };
  // The ioctl attachment lives as long as the perf fd; the caller closes it right after.
  const r = ioctl(perfFd, PERF_EVENT_IOC_SET_BPF, progFd);
  return r.ok ? { ok: true, method: 'PERF_EVENT_IOC_SET_BPF' } : { ok: false, errno: r.errno, method: 'PERF_EVENT_IOC_SET_BPF' };
}
