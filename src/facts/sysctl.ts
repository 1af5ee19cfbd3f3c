import { hostPath } from '../kernel/hostroot.ts';
import { BPF_SYSCTLS, parseSysctlInt, readSysctlInt, sysctlPath, SYSCTL_MEANINGS, type SysctlRead } from '../kernel/sysctl.ts';
import type { FactSection } from '../contract/report.ts';
import { readInInitNetns } from './init-netns.ts';
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

/** The option whose `y` makes a missing file a contradiction rather than the fact "absent". */
const NEEDS: Record<string, string> = {
  'net.core.bpf_jit_enable': 'BPF_JIT',
  'net.core.bpf_jit_harden': 'BPF_JIT',
  'net.core.bpf_jit_kallsyms': 'BPF_JIT',
  'net.core.bpf_jit_limit': 'BPF_JIT',
};

/**
 * The BPF sysctls of the host. kernel.* are global and read under <hostRoot>/proc/sys; net.* exist
 * per network namespace, the JIT's only in the initial one, so they are read there whatever
 * namespace this process is in (src/facts/init-netns.ts). `config` is the running kernel's config
 * (without the CONFIG_ prefix), when readable.
 */
export async function sysctlFacts(hostRoot: string, config?: Map<string, string>): Promise<FactSection> {
  const net = BPF_SYSCTLS.filter((n) => n.startsWith('net.'));
  const files = net.map((n) => hostPath(hostRoot, sysctlPath(n)));
  const initNet = net.length ? await readInInitNetns(hostRoot, files) : undefined;
  const section: FactSection = {};
  for (const name of BPF_SYSCTLS) {
    let r: SysctlRead;
    if (name.startsWith('net.')) {
      const path = hostPath(hostRoot, sysctlPath(name));
      if (!initNet?.ok) {
        const why = initNet?.why ?? 'not read';
        const code = initNet && !initNet.ok ? initNet.code : 'EIO';
        section[name] = fact(
          code === 'EPERM' || code === 'EACCES' ? 'not-permitted' : 'error',
          undefined,
          `unknown: ${name} exists only in the initial network namespace; ${why}`,
          code,
        );
        continue;
      }
      const f = initNet.files[path];
      if (!f?.ok) r = { ok: false, code: f?.code ?? 'EIO', path };
      else {
        try {
          r = { ok: true, value: parseSysctlInt(f.text, path), path };
        } catch (e) {
          r = { ok: false, code: 'EPARSE', path, message: (e as Error).message };
        }
      }
    } else r = readSysctlInt(hostRoot, name);
    if (!r.ok) {
      const option = NEEDS[name];
      if (r.code === 'ENOENT' && name.startsWith('net.') && initNet?.ok && initNet.unsure) {
        section[name] = fact('error', undefined, `unknown: ${r.path} is missing in this network namespace; ${initNet.unsure}`, r.code);
        continue;
      }
      if (r.code === 'ENOENT' && option && config?.get(option) === 'y') {
        section[name] = fact('error', undefined, `unknown: ${r.path} is missing although CONFIG_${option}=y`, r.code);
        continue;
      }
      section[name] = r.message ? fact('error', undefined, `unknown: ${r.message}`) : unreadable(r.code, r.path, ABSENT[name] ?? 'absent');
      continue;
    }
    const meaning =
      SYSCTL_MEANINGS[name]?.[r.value] ??
      (name === 'net.core.bpf_jit_limit' ? `${r.value} bytes of JIT memory for unprivileged programs` : undefined);
    section[name] = fact('supported', r.value, meaning);
  }
  return section;
}
