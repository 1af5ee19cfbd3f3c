// Which capabilities the kernel checks before it creates a map or loads a program, per type
// (kernel/bpf/syscall.c map_create() and bpf_prog_load(), ~6.13; docs/kernel-notes.md#capabilities). Used to
// say, for a not-permitted result, what the caller lacks. CAP_SYS_ADMIN satisfies CAP_BPF,
// CAP_PERFMON and CAP_NET_ADMIN checks in these paths (bpf_capable(), perfmon_capable(),
// bpf_net_capable()); with a token the same checks run against the token's user namespace.

export const CAP = {
  NET_ADMIN: 12,
  SYS_ADMIN: 21,
  SYS_RESOURCE: 24,
  PERFMON: 38,
  BPF: 39,
} as const;

const NAMES: Record<number, string> = {
  12: 'cap_net_admin',
  21: 'cap_sys_admin',
  24: 'cap_sys_resource',
  38: 'cap_perfmon',
  39: 'cap_bpf',
};

/** Program types loadable without any capability when kernel.unprivileged_bpf_disabled=0. */
const UNPRIVILEGED_PROGS = new Set(['socket_filter', 'cgroup_skb']);
const NET_ADMIN_PROGS = new Set([
  'sched_cls',
  'sched_act',
  'xdp',
  'lwt_in',
  'lwt_out',
  'lwt_xmit',
  'lwt_seg6local',
  'sk_skb',
  'sk_msg',
  'flow_dissector',
  'cgroup_device',
  'cgroup_sock',
  'cgroup_sock_addr',
  'cgroup_sockopt',
  'cgroup_sysctl',
  'sock_ops',
  'ext',
  'netfilter',
]);
const PERFMON_PROGS = new Set([
  'kprobe',
  'tracepoint',
  'perf_event',
  'raw_tracepoint',
  'raw_tracepoint_writable',
  'tracing',
  'lsm',
  'struct_ops',
  'ext',
]);

const UNPRIVILEGED_MAPS = new Set([
  'array',
  'percpu_array',
  'prog_array',
  'perf_event_array',
  'cgroup_array',
  'array_of_maps',
  'hash',
  'percpu_hash',
  'hash_of_maps',
  'ringbuf',
  'user_ringbuf',
  'cgroup_storage',
  'percpu_cgroup_storage',
]);
const NET_ADMIN_MAPS = new Set(['sockmap', 'sockhash', 'devmap', 'devmap_hash', 'xskmap']);

/** Capabilities bpf_prog_load() requires for a program type (beyond unprivileged_bpf_disabled=0). */
export function progTypeCaps(progType: string): number[] {
  if (UNPRIVILEGED_PROGS.has(progType)) return [];
  const caps: number[] = [CAP.BPF];
  if (NET_ADMIN_PROGS.has(progType)) caps.push(CAP.NET_ADMIN);
  if (PERFMON_PROGS.has(progType)) caps.push(CAP.PERFMON);
  return caps;
}

/** Capabilities map_create() requires for a map type. */
export function mapTypeCaps(mapType: string): number[] {
  if (UNPRIVILEGED_MAPS.has(mapType)) return [];
  if (NET_ADMIN_MAPS.has(mapType)) return [CAP.BPF, CAP.NET_ADMIN];
  return [CAP.BPF];
}

export function capName(cap: number): string {
  return NAMES[cap] ?? `cap_${cap}`;
}

export function hasCap(effective: bigint, cap: number): boolean {
  if ((effective >> BigInt(cap)) & 1n) return true;
  // CAP_SYS_ADMIN stands in for the BPF-specific capabilities on these paths.
  return cap !== CAP.SYS_ADMIN && cap !== CAP.SYS_RESOURCE && Boolean((effective >> BigInt(CAP.SYS_ADMIN)) & 1n);
}

/** Of `required`, the capabilities `effective` lacks, as names. */
export function missingCaps(required: readonly number[], effective: bigint): string[] {
  return required.filter((c) => !hasCap(effective, c)).map(capName);
}

/**
 * The detail for a not-permitted load or create: what the kernel checks and what is missing. With
 * nothing missing, EPERM came from something else (an LSM, lockdown, the unprivileged sysctl, a
 * token that does not delegate it): say so rather than blame capabilities.
 */
export function explainEperm(
  kind: 'program type' | 'map type',
  name: string,
  required: readonly number[],
  effective: bigint,
  unprivDisabled?: number,
): string {
  const missing = missingCaps(required, effective);
  if (missing.length) {
    return `${kind} ${name} needs ${required.map(capName).join(' + ')}; missing: ${missing.join(', ')}; availability unknown`;
  }
  if (!required.length && unprivDisabled && !hasCap(effective, CAP.BPF)) {
    return `kernel.unprivileged_bpf_disabled=${unprivDisabled} requires cap_bpf for every ${kind}; availability unknown`;
  }
  // BPF-trampoline program types: the attach section's fentry/lsm facts carry a live diagnosis of
  // what refused them (docs/attach.md).
  const see = kind === 'program type' && ['tracing', 'lsm', 'ext'].includes(name) ? ' (attach.fentry and attach.lsm diagnose it)' : '';
  return `denied although the required capabilities (${required.map(capName).join(' + ') || 'none'}) are present: an LSM, lockdown, seccomp or the kernel build refused it; availability unknown${see}`;
}
