// The sysctls that decide who may use bpf() and how programs are compiled, read from
// <hostRoot>/proc/sys. Values are single integers (bpf_jit_limit is a byte count that can exceed 2^31).
import { ParseError } from '../base/errors.ts';
import { readHostText } from './hostroot.ts';

const INT = /^-?\d{1,20}$/;

/** Parse a one-integer sysctl file ("2\n"); throws ParseError naming the input. */
export function parseSysctlInt(text: string, input = 'sysctl'): number {
  const t = text.trim();
  if (!INT.test(t)) throw new ParseError(input, `not an integer: ${JSON.stringify(t.slice(0, 40))}`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new ParseError(input, `integer out of range: ${t}`);
  return n;
}

/** name is dotted (kernel.unprivileged_bpf_disabled) as in sysctl(8). */
export function sysctlPath(name: string): string {
  return `/proc/sys/${name.replaceAll('.', '/')}`;
}

export type SysctlRead = { ok: true; value: number; path: string } | { ok: false; code: string; path: string; message?: string };

export function readSysctlInt(hostRoot: string, name: string): SysctlRead {
  const r = readHostText(hostRoot, sysctlPath(name));
  if (!r.ok) return r;
  try {
    return { ok: true, value: parseSysctlInt(r.value, r.path), path: r.path };
  } catch (e) {
    return { ok: false, code: 'EPARSE', path: r.path, message: (e as Error).message };
  }
}

/** What each value means (kernel/bpf/syscall.c bpf_unpriv_handler, Documentation/admin-guide/sysctl). */
export const SYSCTL_MEANINGS: Record<string, Record<number, string>> = {
  'kernel.unprivileged_bpf_disabled': {
    0: 'unprivileged bpf() allowed',
    1: 'unprivileged bpf() disabled; cannot be re-enabled until reboot',
    2: 'unprivileged bpf() disabled; an admin may set 0 or 1',
  },
  'net.core.bpf_jit_enable': { 0: 'JIT disabled (interpreter)', 1: 'JIT enabled', 2: 'JIT enabled with debug output' },
  'net.core.bpf_jit_harden': { 0: 'JIT hardening off', 1: 'JIT hardening for unprivileged programs', 2: 'JIT hardening for all programs' },
  'net.core.bpf_jit_kallsyms': { 0: 'JITed programs not in kallsyms', 1: 'JITed programs exported to kallsyms' },
  'kernel.bpf_stats_enabled': { 0: 'BPF run-time statistics off', 1: 'BPF run-time statistics on' },
  'kernel.perf_event_paranoid': {
    [-1]: 'no perf restrictions',
    0: 'without CAP_PERFMON: no raw tracepoint or ftrace function events',
    1: 'without CAP_PERFMON: also no CPU-wide events',
    2: 'without CAP_PERFMON: also no kernel profiling (user-space measurements only)',
    3: 'unprivileged perf_event_open disabled (distro patch)',
    4: 'unprivileged perf_event_open disabled (distro patch)',
  },
  'kernel.kptr_restrict': {
    0: 'kernel pointers shown',
    1: 'kernel pointers hidden from users without CAP_SYSLOG',
    2: 'kernel pointers hidden from everyone',
  },
};

export const BPF_SYSCTLS = [
  'kernel.unprivileged_bpf_disabled',
  'net.core.bpf_jit_enable',
  'net.core.bpf_jit_harden',
  'net.core.bpf_jit_kallsyms',
  'net.core.bpf_jit_limit',
  'kernel.bpf_stats_enabled',
  'kernel.perf_event_paranoid',
  'kernel.kptr_restrict',
] as const;
