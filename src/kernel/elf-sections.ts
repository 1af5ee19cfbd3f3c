// libbpf's SEC() naming convention: which program type and expected attach type a section name means.
// Facts from libbpf src/libbpf.c `section_defs[]` (libbpf master, July 2026), in libbpf's order because
// the first match wins ("sk_reuseport/migrate" before "sk_reuseport", "xdp.frags/devmap" before "xdp").
// Pattern syntax, as libbpf matches it:
//   "x+"  exactly "x", or "x/<anything>"
//   "x/"  "x/<anything>" only
//   "x"   exactly "x"
// Sleepable `.s` variants load with BPF_F_SLEEPABLE, `xdp.frags*` with BPF_F_XDP_HAS_FRAGS. Rows marked
// `btf` need a BTF attach target after the first '/' (fentry/<func>, lsm/<hook>, tp_btf/<tp>, iter/<it>),
// looked up in vmlinux BTF as `prefix + target` of `kind`.

export interface SecDef {
  pattern: string;
  progType: string;
  /** enum bpf_attach_type name, undefined for 0-by-default (kprobe, socket, tc legacy, ...). */
  attachType?: string;
  sleepable?: true;
  xdpFrags?: true;
  btf?: { prefix: string; kind: 'func' | 'typedef' };
  /** usdt: libbpf switches to uprobe_multi when the kernel has it; the load is a kprobe either way. */
  usdt?: true;
}

const F = { prefix: '', kind: 'func' } as const;
const TP = { prefix: 'btf_trace_', kind: 'typedef' } as const;
const LSM = { prefix: 'bpf_lsm_', kind: 'func' } as const;
const ITER = { prefix: 'bpf_iter_', kind: 'func' } as const;
const S = { sleepable: true } as const;

function d(
  pattern: string,
  progType: string,
  attachType?: string,
  extra: Omit<SecDef, 'pattern' | 'progType' | 'attachType'> = {},
): SecDef {
  return attachType === undefined ? { pattern, progType, ...extra } : { pattern, progType, attachType, ...extra };
}

export const SECTION_DEFS: readonly SecDef[] = [
  d('socket', 'socket_filter'),
  d('sk_reuseport/migrate', 'sk_reuseport', 'sk_reuseport_select_or_migrate'),
  d('sk_reuseport', 'sk_reuseport', 'sk_reuseport_select'),
  d('kprobe+', 'kprobe'),
  d('uprobe+', 'kprobe'),
  d('uprobe.s+', 'kprobe', undefined, S),
  d('kretprobe+', 'kprobe'),
  d('uretprobe+', 'kprobe'),
  d('uretprobe.s+', 'kprobe', undefined, S),
  d('kprobe.multi+', 'kprobe', 'trace_kprobe_multi'),
  d('kretprobe.multi+', 'kprobe', 'trace_kprobe_multi'),
  d('kprobe.session+', 'kprobe', 'trace_kprobe_session'),
  d('uprobe.multi+', 'kprobe', 'trace_uprobe_multi'),
  d('uretprobe.multi+', 'kprobe', 'trace_uprobe_multi'),
  d('uprobe.session+', 'kprobe', 'trace_uprobe_session'),
  d('uprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', S),
  d('uretprobe.multi.s+', 'kprobe', 'trace_uprobe_multi', S),
  d('uprobe.session.s+', 'kprobe', 'trace_uprobe_session', S),
  d('ksyscall+', 'kprobe'),
  d('kretsyscall+', 'kprobe'),
  d('usdt+', 'kprobe', undefined, { usdt: true }),
  d('usdt.s+', 'kprobe', undefined, { usdt: true, sleepable: true }),
  d('tc/ingress', 'sched_cls', 'tcx_ingress'),
  d('tc/egress', 'sched_cls', 'tcx_egress'),
  d('tcx/ingress', 'sched_cls', 'tcx_ingress'),
  d('tcx/egress', 'sched_cls', 'tcx_egress'),
  d('tc', 'sched_cls'),
  d('classifier', 'sched_cls'),
  d('action', 'sched_act'),
  d('netkit/primary', 'sched_cls', 'netkit_primary'),
  d('netkit/peer', 'sched_cls', 'netkit_peer'),
  d('tracepoint+', 'tracepoint'),
  d('tp+', 'tracepoint'),
  d('tracepoint.s+', 'tracepoint', undefined, S),
  d('tp.s+', 'tracepoint', undefined, S),
  d('raw_tracepoint+', 'raw_tracepoint'),
  d('raw_tp+', 'raw_tracepoint'),
  d('raw_tracepoint.s+', 'raw_tracepoint', undefined, S),
  d('raw_tp.s+', 'raw_tracepoint', undefined, S),
  d('raw_tracepoint.w+', 'raw_tracepoint_writable'),
  d('raw_tp.w+', 'raw_tracepoint_writable'),
  d('tp_btf+', 'tracing', 'trace_raw_tp', { btf: TP }),
  d('tp_btf.s+', 'tracing', 'trace_raw_tp', { btf: TP, sleepable: true }),
  d('fentry+', 'tracing', 'trace_fentry', { btf: F }),
  d('fmod_ret+', 'tracing', 'modify_return', { btf: F }),
  d('fexit+', 'tracing', 'trace_fexit', { btf: F }),
  d('fentry.s+', 'tracing', 'trace_fentry', { btf: F, sleepable: true }),
  d('fmod_ret.s+', 'tracing', 'modify_return', { btf: F, sleepable: true }),
  d('fexit.s+', 'tracing', 'trace_fexit', { btf: F, sleepable: true }),
  d('fsession+', 'tracing', 'trace_fsession', { btf: F }),
  d('fsession.s+', 'tracing', 'trace_fsession', { btf: F, sleepable: true }),
  d('fsession.multi+', 'tracing', 'trace_fsession_multi'),
  d('fsession.multi.s+', 'tracing', 'trace_fsession_multi', S),
  d('fentry.multi+', 'tracing', 'trace_fentry_multi'),
  d('fexit.multi+', 'tracing', 'trace_fexit_multi'),
  d('fentry.multi.s+', 'tracing', 'trace_fentry_multi', S),
  d('fexit.multi.s+', 'tracing', 'trace_fexit_multi', S),
  d('freplace+', 'ext', undefined, { btf: F }),
  d('lsm+', 'lsm', 'lsm_mac', { btf: LSM }),
  d('lsm.s+', 'lsm', 'lsm_mac', { btf: LSM, sleepable: true }),
  d('lsm_cgroup+', 'lsm', 'lsm_cgroup', { btf: LSM }),
  d('iter+', 'tracing', 'trace_iter', { btf: ITER }),
  d('iter.s+', 'tracing', 'trace_iter', { btf: ITER, sleepable: true }),
  d('syscall', 'syscall', undefined, S),
  d('xdp.frags/devmap', 'xdp', 'xdp_devmap', { xdpFrags: true }),
  d('xdp/devmap', 'xdp', 'xdp_devmap'),
  d('xdp.frags/cpumap', 'xdp', 'xdp_cpumap', { xdpFrags: true }),
  d('xdp/cpumap', 'xdp', 'xdp_cpumap'),
  d('xdp.frags', 'xdp', 'xdp', { xdpFrags: true }),
  d('xdp', 'xdp', 'xdp'),
  d('perf_event', 'perf_event'),
  d('lwt_in', 'lwt_in'),
  d('lwt_out', 'lwt_out'),
  d('lwt_xmit', 'lwt_xmit'),
  d('lwt_seg6local', 'lwt_seg6local'),
  d('sockops', 'sock_ops', 'cgroup_sock_ops'),
  d('sk_skb/stream_parser', 'sk_skb', 'sk_skb_stream_parser'),
  d('sk_skb/stream_verdict', 'sk_skb', 'sk_skb_stream_verdict'),
  d('sk_skb/verdict', 'sk_skb', 'sk_skb_verdict'),
  d('sk_skb', 'sk_skb'),
  d('sk_msg', 'sk_msg', 'sk_msg_verdict'),
  d('lirc_mode2', 'lirc_mode2', 'lirc_mode2'),
  d('flow_dissector', 'flow_dissector', 'flow_dissector'),
  d('cgroup_skb/ingress', 'cgroup_skb', 'cgroup_inet_ingress'),
  d('cgroup_skb/egress', 'cgroup_skb', 'cgroup_inet_egress'),
  d('cgroup/skb', 'cgroup_skb'),
  d('cgroup/sock_create', 'cgroup_sock', 'cgroup_inet_sock_create'),
  d('cgroup/sock_release', 'cgroup_sock', 'cgroup_inet_sock_release'),
  d('cgroup/sock', 'cgroup_sock', 'cgroup_inet_sock_create'),
  d('cgroup/post_bind4', 'cgroup_sock', 'cgroup_inet4_post_bind'),
  d('cgroup/post_bind6', 'cgroup_sock', 'cgroup_inet6_post_bind'),
  d('cgroup/bind4', 'cgroup_sock_addr', 'cgroup_inet4_bind'),
  d('cgroup/bind6', 'cgroup_sock_addr', 'cgroup_inet6_bind'),
  d('cgroup/connect4', 'cgroup_sock_addr', 'cgroup_inet4_connect'),
  d('cgroup/connect6', 'cgroup_sock_addr', 'cgroup_inet6_connect'),
  d('cgroup/connect_unix', 'cgroup_sock_addr', 'cgroup_unix_connect'),
  d('cgroup/sendmsg4', 'cgroup_sock_addr', 'cgroup_udp4_sendmsg'),
  d('cgroup/sendmsg6', 'cgroup_sock_addr', 'cgroup_udp6_sendmsg'),
  d('cgroup/sendmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_sendmsg'),
  d('cgroup/recvmsg4', 'cgroup_sock_addr', 'cgroup_udp4_recvmsg'),
  d('cgroup/recvmsg6', 'cgroup_sock_addr', 'cgroup_udp6_recvmsg'),
  d('cgroup/recvmsg_unix', 'cgroup_sock_addr', 'cgroup_unix_recvmsg'),
  d('cgroup/getpeername4', 'cgroup_sock_addr', 'cgroup_inet4_getpeername'),
  d('cgroup/getpeername6', 'cgroup_sock_addr', 'cgroup_inet6_getpeername'),
  d('cgroup/getpeername_unix', 'cgroup_sock_addr', 'cgroup_unix_getpeername'),
  d('cgroup/getsockname4', 'cgroup_sock_addr', 'cgroup_inet4_getsockname'),
  d('cgroup/getsockname6', 'cgroup_sock_addr', 'cgroup_inet6_getsockname'),
  d('cgroup/getsockname_unix', 'cgroup_sock_addr', 'cgroup_unix_getsockname'),
  d('cgroup/sysctl', 'cgroup_sysctl', 'cgroup_sysctl'),
  d('cgroup/getsockopt', 'cgroup_sockopt', 'cgroup_getsockopt'),
  d('cgroup/setsockopt', 'cgroup_sockopt', 'cgroup_setsockopt'),
  d('cgroup/dev', 'cgroup_device', 'cgroup_device'),
  d('struct_ops+', 'struct_ops'),
  d('struct_ops.s+', 'struct_ops', undefined, S),
  d('sk_lookup', 'sk_lookup', 'sk_lookup'),
  d('netfilter', 'netfilter', 'netfilter'),
];

function matches(pattern: string, name: string): boolean {
  if (pattern.endsWith('/')) return name.startsWith(pattern);
  if (pattern.endsWith('+')) {
    const p = pattern.slice(0, -1);
    return name.startsWith(p) && (name.length === p.length || name[p.length] === '/');
  }
  return name === pattern;
}

export interface SectionKind {
  def: SecDef;
  /** What follows the first '/', if anything (the BTF attach target for `btf` rows). */
  target?: string;
}

/** The SEC() row a section name selects, or undefined when libbpf would not know it either. */
export function classifySection(name: string): SectionKind | undefined {
  const def = SECTION_DEFS.find((row) => matches(row.pattern, name));
  if (!def) return undefined;
  const slash = name.indexOf('/');
  return slash < 0 ? { def } : { def, target: name.slice(slash + 1) };
}
