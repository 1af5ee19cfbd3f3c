import { MITIGATIONS, readPreempt, readVulnerability } from '../kernel/cpu.ts';
import type { FactSection } from '../contract/report.ts';
import { fact, unreadable } from './types.ts';

export function cpuFacts(hostRoot: string, config: Map<string, string> | undefined, unameVersion: string): FactSection {
  const section: FactSection = {};
  for (const name of MITIGATIONS) {
    const r = readVulnerability(hostRoot, name);
    // A missing file says nothing about the CPU (kernel before 4.15, other arch): unknown, not "unaffected".
    section[name] = r.ok
      ? fact('supported', r.value.trim())
      : r.code === 'ENOENT'
        ? fact('error', undefined, `unknown: no ${r.path} (kernel before 4.15?)`, r.code)
        : unreadable(r.code, r.path, '');
  }
  const p = readPreempt(hostRoot, config, unameVersion);
  section.preempt = p.model
    ? fact('supported', { model: p.model, dynamic: p.dynamic }, `from ${p.source}`)
    : fact('error', { model: null, dynamic: p.dynamic }, p.source);
  const always = config?.get('BPF_JIT_ALWAYS_ON');
  section.jit_always_on = !config
    ? fact('error', undefined, 'unknown: no kernel config')
    : always === 'y'
      ? fact('supported', true, 'CONFIG_BPF_JIT_ALWAYS_ON=y: no interpreter; programs that cannot be JITed fail to load')
      : fact('unsupported', false, 'CONFIG_BPF_JIT_ALWAYS_ON is not set: the interpreter remains as fallback');
  return section;
}
