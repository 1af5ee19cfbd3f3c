import { readKernelConfig, type KernelConfig } from '../kernel/kconfig.ts';
import type { FactSection } from '../contract/report.ts';
import { fact } from './types.ts';

/**
 * Options that decide what BPF can do: bpftool's `feature probe` system list, plus what attach,
 * BTF, LSM and preemption facts need.
 */
export const BPF_CONFIG_OPTIONS = [
  // bpftool feature.c
  'BPF',
  'BPF_SYSCALL',
  'HAVE_EBPF_JIT',
  'BPF_JIT',
  'BPF_JIT_ALWAYS_ON',
  'DEBUG_INFO_BTF',
  'DEBUG_INFO_BTF_MODULES',
  'CGROUPS',
  'CGROUP_BPF',
  'CGROUP_NET_CLASSID',
  'SOCK_CGROUP_DATA',
  'BPF_EVENTS',
  'KPROBE_EVENTS',
  'UPROBE_EVENTS',
  'TRACING',
  'FTRACE_SYSCALLS',
  'FUNCTION_ERROR_INJECTION',
  'BPF_KPROBE_OVERRIDE',
  'NET',
  'XDP_SOCKETS',
  'LWTUNNEL_BPF',
  'NET_ACT_BPF',
  'NET_CLS_BPF',
  'NET_CLS_ACT',
  'NET_SCH_INGRESS',
  'XFRM',
  'IP_ROUTE_CLASSID',
  'IPV6_SEG6_BPF',
  'BPF_LIRC_MODE2',
  'BPF_STREAM_PARSER',
  'NETFILTER_XT_MATCH_BPF',
  'TEST_BPF',
  'HZ',
  // attach points
  'KPROBES',
  'UPROBES',
  'FPROBE',
  'FTRACE',
  'FUNCTION_TRACER',
  'DYNAMIC_FTRACE',
  'DYNAMIC_FTRACE_WITH_DIRECT_CALLS',
  'PERF_EVENTS',
  'NETKIT',
  'NET_XGRESS',
  'NETFILTER_BPF_LINK',
  'BPF_LSM',
  'BPF_PRELOAD',
  'BPF_UNPRIV_DEFAULT_OFF',
  'MODULES',
  'SCHED_CLASS_EXT',
  // security
  'SECURITY',
  'SECURITYFS',
  'LSM',
  'SECURITY_LOCKDOWN_LSM',
  'SECURITY_LOCKDOWN_LSM_EARLY',
  'LOCK_DOWN_KERNEL_FORCE_NONE',
  'LOCK_DOWN_KERNEL_FORCE_INTEGRITY',
  'LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY',
  'IMA',
  'IMA_READ_POLICY',
  'SECURITY_SELINUX',
  'SECURITY_APPARMOR',
  // preemption
  'PREEMPT_NONE',
  'PREEMPT_VOLUNTARY',
  'PREEMPT',
  'PREEMPT_LAZY',
  'PREEMPT_RT',
  'PREEMPT_DYNAMIC',
  'IKCONFIG_PROC',
] as const;

/** The config section, and the parsed config for the other sections (undefined when none was found). */
export function configFacts(hostRoot: string, release: string): { section: FactSection; config: KernelConfig | undefined } {
  const section: FactSection = {};
  let read;
  try {
    read = readKernelConfig(hostRoot, release);
  } catch (e) {
    // A malformed config must not be mistaken for "option not set".
    const why = `unknown: ${(e as Error).message}`;
    section.source = fact('error', undefined, why);
    for (const opt of BPF_CONFIG_OPTIONS) section[opt] = fact('error', undefined, why);
    return { section, config: undefined };
  }
  if (!read.ok) {
    const why = `unknown: no kernel config for ${release || 'the running release'} (tried ${read.tried.map((t) => `${t.path}: ${t.code}`).join(', ')})`;
    section.source = fact('error', undefined, why);
    for (const opt of BPF_CONFIG_OPTIONS) section[opt] = fact('error', undefined, why);
    return { section, config: undefined };
  }
  const { source, values } = read.config;
  section.source = fact('supported', source);
  for (const opt of BPF_CONFIG_OPTIONS) {
    const v = values.get(opt);
    if (v === undefined || v === 'n') section[opt] = fact('unsupported', v === 'n' ? 'n' : null, `CONFIG_${opt} is not set (${source})`);
    else if (v === 'm') section[opt] = fact('supported', 'm', `CONFIG_${opt}=m: built as a module, available once loaded`);
    else section[opt] = fact('supported', v);
  }
  return { section, config: read.config };
}
