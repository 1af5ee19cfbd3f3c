// The kernel objects the attach probes hang their programs on, by name: one list that the probes
// (perf-probes.ts, tracing.ts) and the vmlinux BTF questions asked ahead of them (btf-answers.ts)
// share. Light on purpose: collect/ imports it with the tables, before any attach probe is loaded.

/** The tracepoint every perf/raw/BTF tracepoint probe uses: always built in, rarely hit. */
export const PROBE_TRACEPOINT = { category: 'sched', name: 'sched_process_exec' } as const;

/**
 * A kernel function that is safe to probe: bpf_fentry_test1 is a noinline hook that only
 * BPF_PROG_TEST_RUN calls (net/bpf/test_run.c); vprintk is cilium's choice where that is absent.
 */
export const HARMLESS_FUNC = 'bpf_fentry_test1';

/**
 * vmlinux FUNCs the trampoline probes attach to, in order of preference: ones only BPF_PROG_TEST_RUN
 * calls, or an LSM hook whose `return 0` changes nothing. fmod_ret only attaches to error-injectable
 * functions (CONFIG_FUNCTION_ERROR_INJECTION, unset in Debian's 6.1 kernels) or to security_*
 * functions, which are always allowed.
 */
export const TRAMPOLINE_FUNCS = {
  fentry: [HARMLESS_FUNC],
  fexit: [HARMLESS_FUNC],
  fmod_ret: ['bpf_modify_return_test', 'security_file_mprotect'],
  lsm: ['bpf_lsm_file_mprotect'],
} as const;

/** The iterator target probeIter links: every kernel with iterators has the task one. */
export const ITER_TARGET = 'bpf_iter_task';

/** The struct_ops value type probeStructOps creates a map of. */
export const STRUCT_OPS_VALUE = 'bpf_struct_ops_tcp_congestion_ops';
