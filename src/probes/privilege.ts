// What a refusal can mean for a caller without some capability (docs/probes.md, "Not permitted is
// not unsupported"). Decided from what the probing thread held, never from a list of which helper or
// feature a capability gates: such lists drift with every kernel (issue 15: bpf_per_cpu_ptr moved
// behind CAP_PERFMON after the kernel our list was read from).
//
// - The helper lookups (each program type's get_func_proto(), bpf_base_func_proto(),
//   bpf_sk_base_func_proto(), the tracing tables) test CAP_BPF and CAP_PERFMON (bpf_capable(),
//   perfmon_capable(); the token's user namespace since 6.9) and CAP_SYS_ADMIN itself
//   (bpf_probe_write_user; before 5.8, every privileged check). CAP_SYS_ADMIN passes all three.
//   A helper hidden from the caller and a helper the program type does not have get the same words
//   ("unknown func", "program of this type cannot use helper"). Only "invalid func", an id past the
//   kernel's last helper, is a fact whoever asks.
// - bpf_prog_load() and the verifier relax rules for CAP_BPF (program size, loops, calls) and
//   CAP_PERFMON (pointer leaks, speculation checks): a program the verifier refused, or refused as too
//   large, may load for a caller with them. An EINVAL before the verifier ran (an empty log: unknown
//   type, attach type, flag or attr) comes from checks that precede every capability test.
import type { ProbeEnv } from '../contract/probe-env.ts';
import { CAP, capName, hasCap } from '../contract/capabilities.ts';
import { E2BIG, ENOSPC, logExcerpt, type RawOutcome } from '../contract/interpret.ts';
import { notPermitted, type ProbeResult } from '../contract/result.ts';

const LOOKUP_CAPS = [CAP.BPF, CAP.PERFMON, CAP.SYS_ADMIN] as const;
const VERIFIER_CAPS = [CAP.BPF, CAP.PERFMON] as const;

/**
 * Of `caps`, those the kernel would not find. Under a token the kernel asks the token's user
 * namespace (where our thread's set is what /proc shows), except for CAP_SYS_ADMIN's own checks
 * (capable(): the initial namespace, where a process in a child namespace holds nothing).
 */
function missing(env: ProbeEnv, caps: readonly number[]): string[] {
  return caps
    .filter((c) => {
      if (c === CAP.SYS_ADMIN && env.tokenFd !== undefined && env.initUserNs === false) return true;
      return !hasCap(env.caps, c);
    })
    .map(capName);
}

/** The capabilities the helper lookups test that this caller lacks: [] means every answer is a fact. */
export function helperLookupBlind(env: ProbeEnv): string[] {
  return missing(env, LOOKUP_CAPS);
}

// Where the kernels we read hide a helper for want of one capability: only ever a hint in the
// detail of a result already decided by helperLookupBlind(), never a reason to decide. Read from
// kernel/bpf/helpers.c and net/core/filter.c (~6.13), bpf_per_cpu_ptr/bpf_this_cpu_ptr and the
// tracing helpers measured on 6.18, the skc_to_* casts on Debian's 6.1 (docs/kernels.md).
const HINTS: Readonly<Record<string, number>> = Object.fromEntries([
  ...[
    'spin_lock',
    'spin_unlock',
    'jiffies64',
    'timer_init',
    'timer_set_callback',
    'timer_start',
    'timer_cancel',
    'kptr_xchg',
    'for_each_map_elem',
    'loop',
    'user_ringbuf_drain',
    'ringbuf_reserve_dynptr',
    'ringbuf_submit_dynptr',
    'ringbuf_discard_dynptr',
    'dynptr_from_mem',
    'dynptr_read',
    'dynptr_write',
    'dynptr_data',
    'cgrp_storage_get',
    'cgrp_storage_delete',
    'get_current_cgroup_id',
    'get_current_ancestor_cgroup_id',
    'strncmp',
    'task_storage_get',
    'task_storage_delete',
    'map_lookup_percpu_elem',
    'get_cgroup_classid',
    'current_task_under_cgroup',
    'strtol',
    'strtoul',
  ].map((h) => [h, CAP.BPF]),
  ...[
    'per_cpu_ptr',
    'this_cpu_ptr',
    'skc_to_tcp6_sock',
    'skc_to_tcp_sock',
    'skc_to_tcp_timewait_sock',
    'skc_to_tcp_request_sock',
    'skc_to_udp6_sock',
    'skc_to_unix_sock',
    'skc_to_mptcp_sock',
    'trace_printk',
    'get_current_task',
    'get_current_task_btf',
    'probe_read_user',
    'probe_read_user_str',
    'probe_read_kernel',
    'probe_read_kernel_str',
    'snprintf_btf',
    'snprintf',
    'task_pt_regs',
    'trace_vprintk',
    'perf_event_read_value',
    'copy_from_user',
    'copy_from_user_task',
    'get_current_comm',
    'perf_event_read',
    'send_signal',
    'send_signal_thread',
    'get_task_stack',
    'get_branch_snapshot',
    'find_vma',
    'sys_bpf',
  ].map((h) => [h, CAP.PERFMON]),
  ['probe_write_user', CAP.SYS_ADMIN],
]);

/**
 * A helper the verifier said this program type does not offer, for a caller the lookups may hide
 * helpers from: not-permitted, naming what could hide it. The kernel's errno and words are kept.
 */
export function hiddenHelper(res: ProbeResult, helper: string, blind: readonly string[], alsoHiddenBy?: string): ProbeResult {
  const hinted = HINTS[helper];
  const hint =
    hinted !== undefined && blind.includes(capName(hinted))
      ? `; kernels we read hide bpf_${helper} from callers without ${capName(hinted)}`
      : '';
  const also = alsoHiddenBy ? `; ${alsoHiddenBy}` : '';
  const detail = `the verifier's helper lookups hide helpers from callers without ${blind.join(', ')}, which this process lacks${hint}${also}; availability unknown${res.detail ? ` (kernel: ${res.detail})` : ''}`;
  return notPermitted(res.errno ?? 'EINVAL', detail);
}

/**
 * A load's "unsupported" for a caller without a capability bpf_prog_load() or the verifier relax
 * rules for: a verifier refusal (it wrote a log), E2BIG (the instruction limit is 4,096 without
 * CAP_BPF; the verifier's complexity limit is reached sooner without CAP_PERFMON's speculation
 * bypass) or a log that overflowed (ENOSPC: the verifier ran that long) is then not a fact.
 * Rejections before the verifier with nothing logged stay facts.
 */
export function refusedForPrivilege(res: ProbeResult, raw: RawOutcome, env: ProbeEnv, what: string): ProbeResult {
  if (raw.ok) return res;
  const overflowed = res.status === 'error' && raw.errno === ENOSPC;
  if (res.status !== 'unsupported' && !overflowed) return res;
  if (raw.errno !== E2BIG && !overflowed && logExcerpt(raw.log) === undefined) return res;
  const lacking = missing(env, VERIFIER_CAPS);
  if (!lacking.length) return res;
  const why = `bpf_prog_load() and the verifier relax their limits for callers with ${VERIFIER_CAPS.map(capName).join(' and ')}; this process lacks ${lacking.join(', ')}`;
  return notPermitted(res.errno ?? 'EINVAL', `${what}: ${why}; availability unknown${res.detail ? ` (kernel: ${res.detail})` : ''}`);
}
