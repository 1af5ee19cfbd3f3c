// The helper matrix row of one program type: a `call <id>` program per helper, interpreted. Kept
// apart from the engine so the helper worker threads import only what they run (their start-up is
// on the critical path of the first probe).
import { ProgLoader } from '../native/bpf.ts';
import { callHelper, encode, exit, mov64Imm } from '../native/insn.ts';
import { HELPER_NAMES } from '../native/uapi-names.ts';
import { CAP, hasCap, progTypeCaps } from './capabilities.ts';
import { explainDenied, outcome, progTypeId, type ProbeEnv } from './env.ts';
import { interpretHelper } from './interpret.ts';
import type { ProgLoadSpec } from '../native/bpf.ts';
import { notPermitted, type ProbeResult, type ResultMap } from './result.ts';


// bpf_base_func_proto() hides these helpers from callers without CAP_BPF (first list) or
// CAP_PERFMON (second): the verifier then says "cannot use helper", which is not a kernel fact.
// kernel/bpf/helpers.c, ~6.13; bpf-probe-facts.md §4 #8.
const CAP_BPF_HELPERS = new Set([
  'spin_lock', 'spin_unlock', 'jiffies64', 'per_cpu_ptr', 'this_cpu_ptr', 'timer_init', 'timer_set_callback',
  'timer_start', 'timer_cancel', 'kptr_xchg', 'for_each_map_elem', 'loop', 'user_ringbuf_drain',
  'ringbuf_reserve_dynptr', 'ringbuf_submit_dynptr', 'ringbuf_discard_dynptr', 'dynptr_from_mem', 'dynptr_read',
  'dynptr_write', 'dynptr_data', 'cgrp_storage_get', 'cgrp_storage_delete', 'get_current_cgroup_id',
  'get_current_ancestor_cgroup_id', 'strncmp', 'task_storage_get', 'task_storage_delete', 'map_lookup_percpu_elem',
  'get_cgroup_classid', 'current_task_under_cgroup', 'strtol', 'strtoul',
]);
// bpf_sk_base_func_proto() (net/core/filter.c) hides the skc_to_* casts from callers without
// CAP_PERFMON too: seen on Debian's 6.1 with unprivileged_bpf_disabled=0 (docs/kernels.md).
const CAP_PERFMON_HELPERS = new Set([
  'skc_to_tcp6_sock', 'skc_to_tcp_sock', 'skc_to_tcp_timewait_sock', 'skc_to_tcp_request_sock', 'skc_to_udp6_sock',
  'skc_to_unix_sock', 'skc_to_mptcp_sock',
  'trace_printk', 'get_current_task', 'get_current_task_btf', 'probe_read_user', 'probe_read_user_str',
  'probe_read_kernel', 'probe_read_kernel_str', 'snprintf_btf', 'snprintf', 'task_pt_regs', 'trace_vprintk',
  'perf_event_read_value', 'copy_from_user', 'copy_from_user_task',
  // Measured on 6.18 with CAP_BPF and CAP_NET_ADMIN but not CAP_PERFMON (each "cannot use helper"
  // in 22 program types that offer it with CAP_PERFMON); sys_bpf in syscall programs likewise.
  'get_current_comm', 'perf_event_read', 'send_signal', 'send_signal_thread', 'get_task_stack',
  'get_branch_snapshot', 'find_vma', 'sys_bpf',
]);
// Hidden without CAP_SYS_ADMIN itself (bpf_get_probe_write_proto()).
const CAP_SYS_ADMIN_HELPERS = new Set(['probe_write_user']);
// Hidden by kernel lockdown (security_locked_down() in the helpers' proto lookup): writing user
// memory from integrity on, reading kernel memory from confidentiality on. `types`: the program
// types whose helper table has the helper at all (the tracing family's, bpf_tracing_func_proto());
// elsewhere its absence is a fact whatever the lockdown. probe_read_kernel* are in every type's
// base table.
// (ext programs take their target's table, which is not of this family here.)
const TRACING_FAMILY = ['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall'];
const LOCKDOWN_HELPERS: Readonly<Record<string, { level: 'integrity' | 'confidentiality'; types?: readonly string[] }>> = {
  probe_write_user: { level: 'integrity', types: TRACING_FAMILY },
  probe_read: { level: 'confidentiality', types: TRACING_FAMILY },
  probe_read_str: { level: 'confidentiality', types: TRACING_FAMILY },
  probe_read_kernel: { level: 'confidentiality' },
  probe_read_kernel_str: { level: 'confidentiality' },
};

/**
 * Why an "absent helper" answer may be policy rather than the kernel: the verifier hides some
 * helpers from callers without a capability, and some under lockdown. undefined: it is a fact.
 */
function hiddenBy(helper: string, progType: string, env: ProbeEnv): string | undefined {
  const lock = LOCKDOWN_HELPERS[helper];
  if (lock && (!lock.types || lock.types.includes(progType))) {
    if (env.lockdown === undefined) return `kernel lockdown, which could not be read (securityfs), may hide bpf_${helper}`;
    if (env.lockdown === 'confidentiality' || env.lockdown === lock.level) return `kernel lockdown (${env.lockdown}) hides bpf_${helper}`;
  }
  // Under a token the kernel checks the token's user namespace, where the shim grants all three.
  if (env.tokenFd !== undefined) return undefined;
  const without = (cap: string) => `the verifier hides bpf_${helper} from programs loaded without ${cap}`;
  if (CAP_BPF_HELPERS.has(helper) && !hasCap(env.caps, CAP.BPF)) return without('cap_bpf');
  if (CAP_PERFMON_HELPERS.has(helper) && !hasCap(env.caps, CAP.PERFMON)) return without('cap_perfmon');
  if (CAP_SYS_ADMIN_HELPERS.has(helper) && !hasCap(env.caps, CAP.SYS_ADMIN)) return without('cap_sys_admin');
  return undefined;
}

const helperPrograms = HELPER_NAMES.map((_, id) => encode([callHelper(id), mov64Imm(0, 0), exit()]));

/** The full helper row for one loadable program type: a `call <id>` program per helper. */
export function probeHelpers(progType: string, prepared: { spec: ProgLoadSpec }, env: ProbeEnv, ids?: readonly number[]): ResultMap {
  const out: ResultMap = {};
  const list = ids ?? HELPER_NAMES.map((_, i) => i).slice(1);
  // One attr for the whole row; only the instructions change. Always with a log: about half the
  // loads fail, and those need the verifier's words, so a log-less first pass costs more than it saves.
  // BPF_LOG_STATS (4) alone: the verifier's error messages without its per-instruction trace, a
  // third cheaper for the loads that succeed (5.2+; older kernels get level 1, see env.ts).
  const loader = new ProgLoader({ ...prepared.spec, logLevel: env.statsLog ? 4 : 1 });
  for (const id of list) {
    const helper = HELPER_NAMES[id]!;
    const r = loader.load(helperPrograms[id]);
    if (r.ok) r.fd.close();
    let res = interpretHelper(outcome(r), id);
    if (res.status === 'unsupported') {
      const why = hiddenBy(helper, progType, env);
      if (why) res = notPermitted(res.errno ?? 'EINVAL', `${why}; availability unknown${res.detail ? ` (kernel: ${res.detail})` : ''}`);
    } else if (res.status === 'not-permitted') {
      res = explainDenied(res, env, { cmd: 'prog_load', progType: progTypeId(progType) }, 'program type', progType, progTypeCaps(progType));
    }
    out[`bpf_${helper}`] = res;
  }
  return out;
}

/** Every helper of a program type that did not load shares the type's result. */
export function inheritHelpers(progType: string, typeResult: ProbeResult): ResultMap {
  const out: ResultMap = {};
  const detail = `program type ${progType} is ${typeResult.status}${typeResult.detail ? `: ${typeResult.detail}` : ''}`;
  for (const helper of HELPER_NAMES.slice(1)) {
    out[`bpf_${helper}`] = { status: typeResult.status, ...(typeResult.errno ? { errno: typeResult.errno } : {}), detail };
  }
  return out;
}

