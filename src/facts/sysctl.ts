import { BPF_SYSCTLS, readSysctlInt, SYSCTL_MEANINGS } from '../kernel/sysctl.ts';
import type { FactSection } from '../report.ts';
import { fact, unreadable } from './types.ts';

/** Why a sysctl file can be missing: the knob's kernel option is off or the kernel predates it. */
const ABSENT: Record<string, string> = {
  'kernel.unprivileged_bpf_disabled': 'absent: CONFIG_BPF_SYSCALL not set',
  'net.core.bpf_jit_enable': 'absent: CONFIG_BPF_JIT not set',
  'net.core.bpf_jit_harden': 'absent: CONFIG_BPF_JIT not set',
  'net.core.bpf_jit_kallsyms': 'absent: CONFIG_BPF_JIT not set',
  'net.core.bpf_jit_limit': 'absent: CONFIG_BPF_JIT not set',
  'kernel.bpf_stats_enabled': 'absent: kernel before 5.1 or CONFIG_BPF_SYSCALL not set',
  'kernel.perf_event_paranoid': 'absent: CONFIG_PERF_EVENTS not set',
  'kernel.kptr_restrict': 'absent',
};

export function sysctlFacts(hostRoot: string): FactSection {
  const section: FactSection = {};
  for (const name of BPF_SYSCTLS) {
    const r = readSysctlInt(hostRoot, name);
    if (!r.ok) {
      section[name] = r.message ? fact('error', undefined, `unknown: ${r.message}`) : unreadable(r.code, r.path, ABSENT[name] ?? 'absent');
      continue;
    }
    const meaning = SYSCTL_MEANINGS[name]?.[r.value] ?? (name === 'net.core.bpf_jit_limit' ? `${r.value} bytes of JIT memory for unprivileged programs` : undefined);
    section[name] = fact('supported', r.value, meaning);
  }
  return section;
}
