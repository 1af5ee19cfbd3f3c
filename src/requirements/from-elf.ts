// The requirements an eBPF object implies: what its programs, maps, helper and kfunc calls need to
// load, plus what its section names say they will attach to (a kprobe program loads without
// CONFIG_KPROBES, but it cannot attach: the requirement has to say so).
import { classifySection } from '../kernel/elf-sections.ts';
import type { BpfObject } from '../kernel/elf-bpf.ts';
import { normalize, type FeatureName, type Requirement } from './model.ts';

// The attach mechanism behind each SEC() prefix, by libbpf's attach function for it.
const ATTACH_FEATURE: Readonly<Record<string, FeatureName>> = {
  'kprobe+': 'kprobe-attach',
  'kretprobe+': 'kprobe-attach',
  'ksyscall+': 'kprobe-attach',
  'kretsyscall+': 'kprobe-attach',
  'kprobe.multi+': 'kprobe-multi',
  'kretprobe.multi+': 'kprobe-multi',
  'kprobe.session+': 'kprobe-multi',
  'uprobe+': 'uprobe-attach',
  'uretprobe+': 'uprobe-attach',
  'uprobe.s+': 'uprobe-attach',
  'uretprobe.s+': 'uprobe-attach',
  'usdt+': 'uprobe-attach',
  'usdt.s+': 'uprobe-attach',
  'tracepoint+': 'tracepoint-attach',
  'tp+': 'tracepoint-attach',
  'tracepoint.s+': 'tracepoint-attach',
  'tp.s+': 'tracepoint-attach',
  'fentry+': 'fentry',
  'fexit+': 'fentry',
  'fmod_ret+': 'fentry',
  'fentry.s+': 'fentry',
  'fexit.s+': 'fentry',
  'fmod_ret.s+': 'fentry',
  'lsm+': 'bpf-lsm',
  'lsm.s+': 'bpf-lsm',
  'lsm_cgroup+': 'bpf-lsm',
};

export function requirementsFromObject(obj: BpfObject): Requirement[] {
  const reqs: Requirement[] = [{ kind: 'feature', name: 'bpf-syscall' }];
  // CO-RE: libbpf needs the kernel's BTF to relocate field accesses before anything loads.
  if (obj.coreRelocations) reqs.push({ kind: 'feature', name: 'btf' });
  for (const p of obj.programs) {
    reqs.push(p.attachType ? { kind: 'program-type', progType: p.progType, attachType: p.attachType } : { kind: 'program-type', progType: p.progType });
    if (p.sleepable) reqs.push({ kind: 'feature', name: 'sleepable' });
    if (p.xdpFrags) reqs.push({ kind: 'feature', name: 'xdp-frags' });
    if (p.attachBtf) {
      reqs.push({ kind: 'feature', name: 'btf' });
      // The target itself must be in the kernel's BTF: a tracepoint, function or LSM hook this
      // kernel does not have fails the load whatever else holds.
      reqs.push({ kind: 'btf-type', btfKind: p.attachBtf.kind, name: p.attachBtf.name });
    }
    const attach = ATTACH_FEATURE[classifySection(p.section)?.def.pattern ?? ''];
    if (attach) reqs.push({ kind: 'feature', name: attach });
    for (const h of p.helpers) reqs.push({ kind: 'helper', progType: p.progType, helper: h });
    for (const k of p.kfuncs) reqs.push({ kind: 'kfunc', name: k });
  }
  if (obj.structOps.length) reqs.push({ kind: 'map-type', mapType: 'struct_ops' });
  for (const m of obj.maps) {
    reqs.push({ kind: 'map-type', mapType: m.type });
    if (m.source === 'global-data') reqs.push({ kind: 'feature', name: 'global-data' });
  }
  return normalize(reqs);
}
