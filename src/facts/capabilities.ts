import {
  CAP,
  capabilityNames,
  hasCap,
  inInitUserNamespace,
  parseProcStatus,
  readThreadCapabilities,
  type CapabilitySets,
} from '../kernel/procstatus.ts';
import { readHostText } from '../kernel/hostroot.ts';
import type { FactSection } from '../contract/report.ts';
import { fact } from './types.ts';

/** What a missing capability blocks (docs/kernel-notes.md#capabilities; kernel ~6.13 checks). */
export const CAPABILITY_BLOCKS: Record<string, { bit: number; coveredBySysAdmin: boolean; blocks: string }> = {
  cap_bpf: {
    bit: CAP.BPF,
    coveredBySysAdmin: true,
    blocks:
      'loading any program type but socket_filter/cgroup_skb, most map types (lru_hash, lpm_trie, stack_trace, queue, stack, bloom_filter, *_storage, struct_ops, cpumap, arena), BTF_LOAD, bounded loops, bpf2bpf and kfunc calls',
  },
  cap_perfmon: {
    bit: CAP.PERFMON,
    coveredBySysAdmin: true,
    blocks:
      'kprobe, tracepoint, perf_event, raw_tracepoint, tracing (fentry/fexit), lsm, struct_ops and ext program loads; bpf_probe_read_kernel and other tracing helpers; perf_event_open for BPF',
  },
  cap_net_admin: {
    bit: CAP.NET_ADMIN,
    coveredBySysAdmin: true,
    blocks:
      'sched_cls, sched_act, xdp, lwt_*, sk_skb, sk_msg, flow_dissector, cgroup_device/sock/sock_addr/sockopt/sysctl, sock_ops and netfilter program loads; sockmap, sockhash, devmap, xskmap maps; tc/xdp/cgroup_skb attach',
  },
  cap_sys_admin: {
    bit: CAP.SYS_ADMIN,
    coveredBySysAdmin: false,
    blocks:
      'BPF_*_GET_NEXT_ID/GET_FD_BY_ID (listing objects, module BTF fds), BPF_ENABLE_STATS, TASK_FD_QUERY, bpffs delegation mounts; before 5.8 every privileged bpf() use',
  },
  cap_sys_resource: {
    bit: CAP.SYS_RESOURCE,
    coveredBySysAdmin: false,
    blocks:
      'raising RLIMIT_MEMLOCK above its hard limit, which maps and programs need on kernels before 5.11 (memlock accounting; 5.11+ charges memcg)',
  },
};

const SETS: (keyof CapabilitySets)[] = ['effective', 'permitted', 'inheritable', 'bounding', 'ambient'];

/**
 * Capabilities of this process: always /proc/self (the probing process), never the host root. `status`
 * text may be given for tests.
 */
export function capabilityFacts(statusText?: string): FactSection {
  const section: FactSection = {};
  let text = statusText;
  if (text === undefined) {
    const r = readHostText('/', '/proc/self/status');
    if (!r.ok) return { effective: fact('error', undefined, `unknown: ${r.path}: ${r.code}`, r.code) };
    text = r.value;
  }
  let caps: CapabilitySets;
  try {
    caps = parseProcStatus(text, '/proc/self/status').caps;
  } catch (e) {
    return { effective: fact('error', undefined, `unknown: ${(e as Error).message}`) };
  }
  for (const set of SETS) section[set] = fact('supported', capabilityNames(caps[set]));

  if (statusText === undefined) {
    // Only the threads whose sets differ: how many threads we run is a fact of our process (the
    // helper and attach workers come and go), not of the node, and it made every daemon re-probe
    // read as a change (issue 20, docs/facts.md).
    const differing = readThreadCapabilities().filter((t) => SETS.some((s) => t.caps[s] !== caps[s]));
    section.threads = fact(
      'supported',
      { differing: differing.map((t) => ({ tid: t.tid, effective: capabilityNames(t.caps.effective) })) },
      differing.length ? `${differing.length} thread(s) hold capability sets that differ from the process's` : undefined,
    );
  }

  const sysAdmin = hasCap(caps.effective, CAP.SYS_ADMIN);
  // Held in a child user namespace (a rootless container), a capability does not count for bpf(),
  // which checks the initial one (without a token): the kernel sees none of them.
  const childNs = statusText === undefined && inInitUserNamespace() === false;
  if (childNs)
    section.user_namespace = fact(
      'not-permitted',
      'child',
      'we run in a child user namespace: bpf() counts none of its capabilities without a BPF token',
    );
  for (const [name, { bit, coveredBySysAdmin, blocks }] of Object.entries(CAPABILITY_BLOCKS)) {
    if (childNs)
      section[name] = fact(
        'not-permitted',
        false,
        `${hasCap(caps.effective, bit) ? 'held, but in a child user namespace, where bpf() does not count it' : 'missing from the effective set'}; blocks ${blocks}`,
      );
    else if (hasCap(caps.effective, bit)) section[name] = fact('supported', true);
    else if (coveredBySysAdmin && sysAdmin) section[name] = fact('supported', false, `not held, but cap_sys_admin grants the same`);
    else section[name] = fact('not-permitted', false, `missing from the effective set; blocks ${blocks}`);
  }
  return section;
}
