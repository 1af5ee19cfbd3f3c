// Program types: one row per type of the current uapi. A type is supported when a correct program
// of that type loads with ANY valid expected attach type, so rows list the variants to try in
// order; the first that loads decides, and its recipe is the one the helper matrix reuses.
// Most types need nothing but their number (`mov r0, 0; exit` is valid for all of them); the rows
// with more say why in a comment. The kernel that brought each type is data (PROGRAM_TYPE_SINCE),
// checked against Debian's 6.1 kernels (test/kernels/expect.ts, on every qemu boot and on the
// recorded fixtures); we never gate on it.
// No import that loads koffi: the CLI's early helper batch reads these rows before it loads (src/collect/shim-early.ts).
import { BPF_F_SLEEPABLE, ENOTSUPP } from '../native/uapi.ts';

/** A BTF type the kernel must resolve for the load: attach_btf_id = id of (kind, name) in vmlinux. */
export type BtfTarget = readonly [kind: 'func' | 'typedef' | 'struct', name: string];

/** The first mainline kernel with a row ("major.minor"); null: none released that we have run (6.18 refuses it). */
export interface KernelSince {
  since: `${number}.${number}` | null;
  /** A kernel option (without CONFIG_) the row also needs. */
  needs?: string;
}

/** "6.1" < "6.10": compared as numbers, major then minor. */
export function versionAtMost(v: `${number}.${number}`, limit: `${number}.${number}`): boolean {
  const [a, b] = v.split('.').map(Number) as [number, number];
  const [c, d] = limit.split('.').map(Number) as [number, number];
  return a < c || (a === c && b <= d);
}

export interface ProgRecipe {
  /** expected_attach_type, by the kernel's name (src/native/uapi-names.ts). */
  attach?: string;
  btf?: BtfTarget;
  /** struct_ops: expected_attach_type is the index of this member in the `btf` struct. */
  member?: string;
  flags?: number;
  /** Return value when 0 is not allowed (recvmsg, getpeername and getsockname hooks must return 1). */
  ret?: number;
  /** KPROBE on kernels before 5.0 must carry LINUX_VERSION_CODE. */
  kernVersion?: boolean;
  /** Program extension: needs a loaded target program with BTF (built by the engine). */
  extTarget?: boolean;
  /**
   * The errno that proves the type exists when no valid program can be built (docs/kernel-notes.md#type-errno):
   * used only as a last-resort variant.
   */
  expectErrno?: number;
}

export const PROGRAM_TYPES: Readonly<Record<string, readonly ProgRecipe[]>> = {
  socket_filter: [{}],
  kprobe: [{ kernVersion: true }],
  sched_cls: [{}],
  sched_act: [{}],
  tracepoint: [{}],
  xdp: [{}],
  perf_event: [{}],
  cgroup_skb: [{}],
  cgroup_sock: [{ attach: 'cgroup_inet_sock_create' }],
  lwt_in: [{}],
  lwt_out: [{}],
  lwt_xmit: [{}],
  sock_ops: [{}],
  sk_skb: [{}],
  cgroup_device: [{}],
  sk_msg: [{}],
  raw_tracepoint: [{}],
  cgroup_sock_addr: [{ attach: 'cgroup_inet4_connect' }], // expected_attach_type is mandatory
  lwt_seg6local: [{}],
  lirc_mode2: [{ attach: 'lirc_mode2' }], // a kernel option too (PROGRAM_TYPE_SINCE)
  sk_reuseport: [{}],
  flow_dissector: [{}],
  cgroup_sysctl: [{}],
  raw_tracepoint_writable: [{}],
  cgroup_sockopt: [{ attach: 'cgroup_getsockopt' }],
  // Tracing programs name their target by BTF id. libbpf/bpftool try fentry only and so report the
  // type missing where fentry is refused but raw tracepoints or iterators work (vendor kernels
  // without trampolines; and lockdown, see docs/probes.md): try every attach type.
  tracing: [
    { attach: 'trace_fentry', btf: ['func', 'bpf_fentry_test1'] },
    { attach: 'trace_fexit', btf: ['func', 'bpf_fentry_test1'] },
    { attach: 'trace_raw_tp', btf: ['typedef', 'btf_trace_sys_enter'] },
    { attach: 'trace_iter', btf: ['func', 'bpf_iter_task'] },
    { attach: 'modify_return', btf: ['func', 'bpf_modify_return_test'] },
    { attach: 'modify_return', btf: ['func', 'security_file_open'] },
  ],
  // A struct_ops program implements one member of a registered struct_ops type; tcp_congestion_ops
  // is in every kernel with BPF_JIT and INET. ENOTSUPP for attach_btf_id 0 is libbpf's fallback.
  struct_ops: [{ btf: ['struct', 'tcp_congestion_ops'], member: 'ssthresh' }, { expectErrno: ENOTSUPP }],
  ext: [{ extTarget: true }],
  lsm: [
    { attach: 'lsm_mac', btf: ['func', 'bpf_lsm_file_mprotect'] },
    { attach: 'lsm_cgroup', btf: ['func', 'bpf_lsm_socket_bind'] },
  ],
  sk_lookup: [{ attach: 'sk_lookup' }],
  syscall: [{ flags: BPF_F_SLEEPABLE }], // the kernel refuses non-sleepable syscall programs
  netfilter: [{ attach: 'netfilter' }],
};

/**
 * The first mainline kernel with each program type: for the reader and for the test that holds the
 * table to a real 6.1 kernel. `needs`: a kernel option the type also depends on (a kernel without it
 * says unsupported, whatever its version).
 */
export const PROGRAM_TYPE_SINCE: Readonly<Record<string, KernelSince>> = {
  socket_filter: { since: '3.19' },
  kprobe: { since: '4.1' },
  sched_cls: { since: '4.1' },
  sched_act: { since: '4.1' },
  tracepoint: { since: '4.7' },
  xdp: { since: '4.8' },
  perf_event: { since: '4.9' },
  cgroup_skb: { since: '4.10' },
  cgroup_sock: { since: '4.10' },
  lwt_in: { since: '4.10' },
  lwt_out: { since: '4.10' },
  lwt_xmit: { since: '4.10' },
  sock_ops: { since: '4.13' },
  sk_skb: { since: '4.14' },
  cgroup_device: { since: '4.15' },
  sk_msg: { since: '4.17' },
  raw_tracepoint: { since: '4.17' },
  cgroup_sock_addr: { since: '4.17' },
  lwt_seg6local: { since: '4.18' },
  lirc_mode2: { since: '4.18', needs: 'BPF_LIRC_MODE2' },
  sk_reuseport: { since: '4.19' },
  flow_dissector: { since: '4.20' },
  cgroup_sysctl: { since: '5.2' },
  raw_tracepoint_writable: { since: '5.2' },
  cgroup_sockopt: { since: '5.3' },
  tracing: { since: '5.5' },
  struct_ops: { since: '5.6' },
  ext: { since: '5.6' },
  lsm: { since: '5.7' },
  sk_lookup: { since: '5.9' },
  syscall: { since: '5.14' },
  netfilter: { since: '6.4' },
};

/**
 * Expected attach types whose programs the kernel offers another helper set than the first variant
 * of their program type that loads: each gets a row of its own, `helpers["<type>/<attach>"]`
 * (docs/json.md), unless it shares the class of the type's own row. A class is attach types that
 * share one branch of the kernel's helper table: tracing_prog_func_proto() gives the trampoline
 * kinds (fentry, fexit, fmod_ret) the function-argument helpers, iterators the seq_* helpers and
 * raw tracepoints neither; bpf_lsm_func_proto() gives lsm_cgroup the cgroup helpers. One attach type
 * of a class is probed (each tracing row is ~211 loads of ~100 µs) and the others that load get its
 * row: test/kernels records each one's own row on Debian's 6.1, where they all load, and checks that
 * they are the same.
 */
export const HELPER_VARIANTS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  tracing: [['trace_fentry', 'trace_fexit', 'modify_return'], ['trace_raw_tp'], ['trace_iter']],
  lsm: [['lsm_mac'], ['lsm_cgroup']],
};

/**
 * Load recipes per expected attach type, for the attachTypes section: whether a program with this
 * expected_attach_type loads. Attach types that only exist on links (tcx, netkit, perf_event,
 * struct_ops) are probed by the link probes instead (links.ts).
 */
export const ATTACH_TYPES: Readonly<Record<string, readonly [progType: string, recipes: ProgRecipe | readonly ProgRecipe[]]>> = {
  cgroup_inet_ingress: ['cgroup_skb', { attach: 'cgroup_inet_ingress' }],
  cgroup_inet_egress: ['cgroup_skb', { attach: 'cgroup_inet_egress' }],
  cgroup_inet_sock_create: ['cgroup_sock', { attach: 'cgroup_inet_sock_create' }],
  cgroup_inet_sock_release: ['cgroup_sock', { attach: 'cgroup_inet_sock_release' }],
  cgroup_inet4_post_bind: ['cgroup_sock', { attach: 'cgroup_inet4_post_bind' }],
  cgroup_inet6_post_bind: ['cgroup_sock', { attach: 'cgroup_inet6_post_bind' }],
  cgroup_sock_ops: ['sock_ops', { attach: 'cgroup_sock_ops' }],
  sk_skb_stream_parser: ['sk_skb', { attach: 'sk_skb_stream_parser' }],
  sk_skb_stream_verdict: ['sk_skb', { attach: 'sk_skb_stream_verdict' }],
  sk_skb_verdict: ['sk_skb', { attach: 'sk_skb_verdict' }],
  cgroup_device: ['cgroup_device', { attach: 'cgroup_device' }],
  sk_msg_verdict: ['sk_msg', { attach: 'sk_msg_verdict' }],
  cgroup_inet4_bind: ['cgroup_sock_addr', { attach: 'cgroup_inet4_bind' }],
  cgroup_inet6_bind: ['cgroup_sock_addr', { attach: 'cgroup_inet6_bind' }],
  cgroup_inet4_connect: ['cgroup_sock_addr', { attach: 'cgroup_inet4_connect' }],
  cgroup_inet6_connect: ['cgroup_sock_addr', { attach: 'cgroup_inet6_connect' }],
  cgroup_udp4_sendmsg: ['cgroup_sock_addr', { attach: 'cgroup_udp4_sendmsg' }],
  cgroup_udp6_sendmsg: ['cgroup_sock_addr', { attach: 'cgroup_udp6_sendmsg' }],
  cgroup_udp4_recvmsg: ['cgroup_sock_addr', { attach: 'cgroup_udp4_recvmsg', ret: 1 }],
  cgroup_udp6_recvmsg: ['cgroup_sock_addr', { attach: 'cgroup_udp6_recvmsg', ret: 1 }],
  cgroup_inet4_getpeername: ['cgroup_sock_addr', { attach: 'cgroup_inet4_getpeername', ret: 1 }],
  cgroup_inet6_getpeername: ['cgroup_sock_addr', { attach: 'cgroup_inet6_getpeername', ret: 1 }],
  cgroup_inet4_getsockname: ['cgroup_sock_addr', { attach: 'cgroup_inet4_getsockname', ret: 1 }],
  cgroup_inet6_getsockname: ['cgroup_sock_addr', { attach: 'cgroup_inet6_getsockname', ret: 1 }],
  cgroup_unix_connect: ['cgroup_sock_addr', { attach: 'cgroup_unix_connect' }],
  cgroup_unix_sendmsg: ['cgroup_sock_addr', { attach: 'cgroup_unix_sendmsg' }],
  cgroup_unix_recvmsg: ['cgroup_sock_addr', { attach: 'cgroup_unix_recvmsg', ret: 1 }],
  cgroup_unix_getpeername: ['cgroup_sock_addr', { attach: 'cgroup_unix_getpeername', ret: 1 }],
  cgroup_unix_getsockname: ['cgroup_sock_addr', { attach: 'cgroup_unix_getsockname', ret: 1 }],
  lirc_mode2: ['lirc_mode2', { attach: 'lirc_mode2' }],
  flow_dissector: ['flow_dissector', { attach: 'flow_dissector' }],
  cgroup_sysctl: ['cgroup_sysctl', { attach: 'cgroup_sysctl' }],
  cgroup_getsockopt: ['cgroup_sockopt', { attach: 'cgroup_getsockopt' }],
  cgroup_setsockopt: ['cgroup_sockopt', { attach: 'cgroup_setsockopt' }],
  trace_raw_tp: ['tracing', { attach: 'trace_raw_tp', btf: ['typedef', 'btf_trace_sys_enter'] }],
  trace_fentry: ['tracing', { attach: 'trace_fentry', btf: ['func', 'bpf_fentry_test1'] }],
  trace_fexit: ['tracing', { attach: 'trace_fexit', btf: ['func', 'bpf_fentry_test1'] }],
  // fmod_ret needs an error-injectable target: the test hook exists only with
  // CONFIG_FUNCTION_ERROR_INJECTION; LSM hooks (security_*) are allowed without it.
  modify_return: [
    'tracing',
    [
      { attach: 'modify_return', btf: ['func', 'bpf_modify_return_test'] },
      { attach: 'modify_return', btf: ['func', 'security_file_open'] },
    ],
  ],
  trace_iter: ['tracing', { attach: 'trace_iter', btf: ['func', 'bpf_iter_task'] }],
  trace_fsession: ['tracing', { attach: 'trace_fsession', btf: ['func', 'bpf_fentry_test1'] }],
  lsm_mac: ['lsm', { attach: 'lsm_mac', btf: ['func', 'bpf_lsm_file_mprotect'] }],
  lsm_cgroup: ['lsm', { attach: 'lsm_cgroup', btf: ['func', 'bpf_lsm_socket_bind'] }],
  xdp_devmap: ['xdp', { attach: 'xdp_devmap' }],
  xdp_cpumap: ['xdp', { attach: 'xdp_cpumap' }],
  xdp: ['xdp', { attach: 'xdp' }],
  sk_lookup: ['sk_lookup', { attach: 'sk_lookup' }],
  sk_reuseport_select: ['sk_reuseport', { attach: 'sk_reuseport_select' }],
  sk_reuseport_select_or_migrate: ['sk_reuseport', { attach: 'sk_reuseport_select_or_migrate' }],
  trace_kprobe_multi: ['kprobe', { attach: 'trace_kprobe_multi' }],
  trace_kprobe_session: ['kprobe', { attach: 'trace_kprobe_session' }],
  trace_uprobe_multi: ['kprobe', { attach: 'trace_uprobe_multi' }],
  trace_uprobe_session: ['kprobe', { attach: 'trace_uprobe_session' }],
  netfilter: ['netfilter', { attach: 'netfilter' }],
};
