// What an operator can change to turn an unmet requirement into a met one. Kernel options come from
// the Kconfig symbols that build each program/map type (kernel/bpf/Makefile, net/Kconfig, ...); the
// capability lists from the kernel's own checks (src/contract/capabilities.ts, docs/kernel-notes.md#capabilities).
import { capName, mapTypeCaps, progTypeCaps } from '../contract/capabilities.ts';

/** Kernel options a program type is built under (besides CONFIG_BPF_SYSCALL). */
export const PROG_TYPE_CONFIG: Readonly<Record<string, readonly string[]>> = {
  socket_filter: ['CONFIG_NET'],
  kprobe: ['CONFIG_BPF_EVENTS', 'CONFIG_KPROBE_EVENTS'],
  sched_cls: ['CONFIG_NET_CLS_BPF', 'CONFIG_NET_CLS_ACT'],
  sched_act: ['CONFIG_NET_ACT_BPF', 'CONFIG_NET_CLS_ACT'],
  tracepoint: ['CONFIG_BPF_EVENTS'],
  xdp: ['CONFIG_NET'],
  perf_event: ['CONFIG_BPF_EVENTS', 'CONFIG_PERF_EVENTS'],
  cgroup_skb: ['CONFIG_CGROUP_BPF'],
  cgroup_sock: ['CONFIG_CGROUP_BPF'],
  cgroup_device: ['CONFIG_CGROUP_BPF'],
  cgroup_sock_addr: ['CONFIG_CGROUP_BPF'],
  cgroup_sysctl: ['CONFIG_CGROUP_BPF'],
  cgroup_sockopt: ['CONFIG_CGROUP_BPF'],
  lwt_in: ['CONFIG_LWTUNNEL_BPF'],
  lwt_out: ['CONFIG_LWTUNNEL_BPF'],
  lwt_xmit: ['CONFIG_LWTUNNEL_BPF'],
  lwt_seg6local: ['CONFIG_IPV6_SEG6_BPF'],
  sock_ops: ['CONFIG_CGROUP_BPF'],
  // Built with CONFIG_INET (and CONFIG_NET_SOCK_MSG, which sockmap selects) on current kernels;
  // CONFIG_BPF_STREAM_PARSER gated them on older ones and still gives sk_skb its stream parser.
  sk_skb: ['CONFIG_INET', 'CONFIG_BPF_STREAM_PARSER'],
  sk_msg: ['CONFIG_INET', 'CONFIG_NET_SOCK_MSG'],
  raw_tracepoint: ['CONFIG_BPF_EVENTS'],
  raw_tracepoint_writable: ['CONFIG_BPF_EVENTS'],
  lirc_mode2: ['CONFIG_BPF_LIRC_MODE2'],
  sk_reuseport: ['CONFIG_INET'],
  flow_dissector: ['CONFIG_NET'],
  // Registered under CONFIG_BPF_EVENTS (bpf_types.h); trampolines need the JIT, vmlinux BTF and
  // ftrace direct calls on x86.
  tracing: ['CONFIG_BPF_EVENTS', 'CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF', 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS'],
  struct_ops: ['CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF'],
  ext: ['CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF'],
  lsm: ['CONFIG_BPF_LSM', 'CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF'],
  sk_lookup: ['CONFIG_INET'],
  syscall: ['CONFIG_BPF_SYSCALL'],
  netfilter: ['CONFIG_NETFILTER_BPF_LINK'],
};

export const MAP_TYPE_CONFIG: Readonly<Record<string, readonly string[]>> = {
  // Under CONFIG_INET on current kernels (CONFIG_BPF_STREAM_PARSER on older ones).
  sockmap: ['CONFIG_INET', 'CONFIG_NET_SOCK_MSG'],
  sockhash: ['CONFIG_INET', 'CONFIG_NET_SOCK_MSG'],
  xskmap: ['CONFIG_XDP_SOCKETS'],
  cgroup_storage: ['CONFIG_CGROUP_BPF'],
  percpu_cgroup_storage: ['CONFIG_CGROUP_BPF'],
  cgroup_array: ['CONFIG_CGROUPS'],
  cgrp_storage: ['CONFIG_CGROUPS'],
  inode_storage: ['CONFIG_BPF_LSM'],
  struct_ops: ['CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF'],
  arena: ['CONFIG_BPF_JIT', 'CONFIG_MMU'],
  stack_trace: ['CONFIG_PERF_EVENTS'],
  perf_event_array: ['CONFIG_PERF_EVENTS'],
  reuseport_sockarray: ['CONFIG_NET'],
};

export const FS_MOUNT_COMMAND: Readonly<Record<string, (path: string) => string>> = {
  bpf: (p) => `mount -t bpf bpf ${p}`,
  tracefs: (p) => `mount -t tracefs tracefs ${p}`,
  debugfs: (p) => `mount -t debugfs debugfs ${p}`,
  securityfs: (p) => `mount -t securityfs securityfs ${p}`,
  cgroup2: (p) => `mount -t cgroup2 none ${p}`,
};

/** Kubernetes spells capabilities without the CAP_ prefix in securityContext.capabilities.add. */
export function grantCapability(caps: readonly string[]): string {
  const k8s = caps.map((c) => c.replace(/^cap_/, '').toUpperCase());
  return `grant ${caps.join(', ')} (Kubernetes: securityContext.capabilities.add: [${k8s.join(', ')}])`;
}

export function configAdvice(options: readonly string[], current: (name: string) => string | undefined): string[] {
  return options.map((o) => {
    const now = current(o);
    return `build the kernel with ${o}=y${now === undefined ? '' : ` (this node: ${now})`}`;
  });
}

/** For a not-permitted load or create: the capabilities the kernel checks for that type. */
export function capabilityAdvice(kind: 'program' | 'map', type: string, effective: readonly string[]): string[] {
  const needed = (kind === 'program' ? progTypeCaps(type) : mapTypeCaps(type)).map(capName);
  // kernel.unprivileged_bpf_disabled (default 2 on most distributions) adds cap_bpf for every type.
  if (!needed.includes('cap_bpf')) needed.unshift('cap_bpf');
  const has = (c: string): boolean => effective.includes(c) || (c !== 'cap_sys_admin' && effective.includes('cap_sys_admin'));
  const missing = needed.filter((c) => !has(c));
  if (missing.length) return [grantCapability(missing)];
  return [
    `the kernel refused it although ${needed.join(' + ')} ${needed.length > 1 ? 'are' : 'is'} held: check kernel lockdown (/sys/kernel/security/lockdown), LSM policy (SELinux/AppArmor/BPF LSM rules for bpf) and the container's seccomp profile`,
  ];
}
