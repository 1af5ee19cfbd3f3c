// The requirements an eBPF object implies, per program (docs/requirements.md, "eBPF objects" and
// "Programs"): what each program needs to load (program type, helpers, kfuncs, BTF target, CO-RE
// relocations, license) and to attach (the mechanism its section names, the tracepoint or function it
// hooks), plus what the object needs whichever programs load (its maps). Programs that hook one event
// through different mechanisms (fentry and kprobe, tp_btf and raw_tp) are alternatives: the loader
// picks one at run time, so they form an any-of group.
import { classifySection } from '../kernel/elf-sections.ts';
import type { BpfObject, BpfProgramSpec, ProgramCoreRelo } from '../kernel/elf-bpf.ts';
import { essentialName } from '../kernel/btf.ts';
import { coreClass, coreSpecName, isExistence } from '../kernel/elf-core.ts';
import { reachable } from '../kernel/elf-reach.ts';
import { isaVersion } from '../kernel/bpf-isa.ts';
import { normalize, requirementId, type CoreGuard, type FeatureName, type Requirement } from './model.ts';

// The attach mechanism behind each SEC() prefix, by libbpf's attach function for it. kprobe and
// kretprobe sections with a target are `kprobe-target` requirements instead (see below).
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

const TRACEPOINT = new Set(['tracepoint+', 'tp+', 'tracepoint.s+', 'tp.s+']);
const RAW_TRACEPOINT = new Set(['raw_tracepoint+', 'raw_tp+', 'raw_tracepoint.s+', 'raw_tp.s+', 'raw_tracepoint.w+', 'raw_tp.w+']);
const KPROBE = new Set(['kprobe+', 'kretprobe+']);

/** The kernel's GPL-compatible license strings (include/linux/license.h, license_is_gpl_compatible). */
const GPL_COMPATIBLE = new Set(['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL']);
export const isGplCompatible = (license: string): boolean => GPL_COMPATIBLE.has(license);

export interface ProgramRequirements {
  name: string;
  section: string;
  progType: string;
  attachType?: string;
  requirements: Requirement[];
  /** The any-of group the program is an alternative in. */
  group?: string;
}

export interface ObjectRequirements {
  /** Needed whichever programs load (libbpf creates every map of the object). */
  object: Requirement[];
  programs: ProgramRequirements[];
  /** Alternatives: each is a set of programs (one attach mechanism) that must all hold. */
  groups: { id: string; alternatives: string[][] }[];
}

/** Every requirement of the object as one list (the object's and every program's). */
export function requirementsFromObject(obj: BpfObject): Requirement[] {
  const r = objectRequirements(obj);
  return normalize([...r.object, ...r.programs.flatMap((p) => p.requirements)]);
}

export function objectRequirements(obj: BpfObject): ObjectRequirements {
  const object: Requirement[] = [{ kind: 'feature', name: 'bpf-syscall' }];
  if (obj.structOps.length) object.push({ kind: 'map-type', mapType: 'struct_ops' });
  for (const m of obj.maps) {
    object.push({ kind: 'map-type', mapType: m.type });
    if (m.innerType) object.push({ kind: 'map-type', mapType: m.innerType });
    if (m.source === 'global-data') object.push({ kind: 'feature', name: 'global-data' });
  }
  const hooks = new Map(obj.programs.map((p) => [p.name, hookOf(p)]));
  const programs = obj.programs.map((p) => {
    const pr: ProgramRequirements = {
      name: p.name,
      section: p.section,
      progType: p.progType,
      requirements: normalize(programRequirements(obj, p, hooks)),
    };
    if (p.attachType) pr.attachType = p.attachType;
    return pr;
  });
  // Group by hook; a group needs two mechanisms at least (two kprobes on one function are two
  // handlers, both attached).
  const byKey = new Map<string, Map<string, string[]>>();
  for (const p of obj.programs) {
    const h = hooks.get(p.name);
    if (!h) continue;
    const mechs = byKey.get(h.key) ?? new Map<string, string[]>();
    mechs.set(h.mechanism, [...(mechs.get(h.mechanism) ?? []), p.name]);
    byKey.set(h.key, mechs);
  }
  const groups: ObjectRequirements['groups'] = [];
  for (const [key, mechs] of [...byKey].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (mechs.size < 2) continue;
    groups.push({ id: key, alternatives: [...mechs.values()].map((names) => names.sort()) });
    for (const names of mechs.values()) for (const n of names) programs.find((x) => x.name === n)!.group = key;
  }
  return { object: normalize(object), programs, groups };
}

interface Hook {
  /**
   * What is hooked: "function:vfs_read" (entered or returned from: a tool's fentry variant may need
   * fexit alone where its kprobe variant needs a kprobe and a kretprobe), "tracepoint:sched_switch".
   */
  key: string;
  mechanism: 'trampoline' | 'kprobe' | 'tp_btf' | 'raw_tp' | 'tracepoint';
}

function hookOf(p: BpfProgramSpec): Hook | undefined {
  const pattern = classifySection(p.section)?.def.pattern;
  const t = p.target;
  if (!pattern || !t) return undefined;
  switch (pattern) {
    case 'fentry+':
    case 'fentry.s+':
    case 'fexit+':
    case 'fexit.s+':
      return { key: `function:${t}`, mechanism: 'trampoline' };
    case 'kprobe+':
    case 'kretprobe+':
      return { key: `function:${t}`, mechanism: 'kprobe' };
    case 'tp_btf+':
    case 'tp_btf.s+':
      return { key: `tracepoint:${t}`, mechanism: 'tp_btf' };
    default:
      if (RAW_TRACEPOINT.has(pattern)) return { key: `tracepoint:${t}`, mechanism: 'raw_tp' };
      if (TRACEPOINT.has(pattern)) return { key: `tracepoint:${t.slice(t.lastIndexOf('/') + 1)}`, mechanism: 'tracepoint' };
      return undefined;
  }
}

function programRequirements(obj: BpfObject, p: BpfProgramSpec, hooks: Map<string, Hook | undefined>): Requirement[] {
  const reqs: Requirement[] = [];
  for (const k of p.kfuncs) reqs.push({ kind: 'kfunc', name: k });
  if (p.core.length) reqs.push({ kind: 'feature', name: 'btf' });
  reqs.push(...coreRequirements(obj, p));
  if (!isGplCompatible(obj.license)) {
    for (const h of p.unknownSection ? [] : p.helpers)
      reqs.push({ kind: 'license', what: 'helper', name: h, progType: p.progType, license: obj.license });
    for (const k of p.kfuncs) reqs.push({ kind: 'license', what: 'kfunc', name: k, license: obj.license });
  }
  // A section libbpf does not know: the type (and so its helpers) is the loader's run-time choice.
  if (p.unknownSection) return [...reqs, { kind: 'section', section: p.section }];
  reqs.push(
    p.attachType
      ? { kind: 'program-type', progType: p.progType, attachType: p.attachType }
      : { kind: 'program-type', progType: p.progType },
  );
  const isa = isaVersion(p.linked.insns, obj.littleEndian);
  if (isa > 1) reqs.push({ kind: 'feature', name: `isa-v${isa as 2 | 3 | 4}` });
  if (p.sleepable) reqs.push({ kind: 'feature', name: 'sleepable' });
  if (p.xdpFrags) reqs.push({ kind: 'feature', name: 'xdp-frags' });
  if (p.attachBtf) {
    reqs.push({ kind: 'feature', name: 'btf' });
    // The target itself must be in the kernel's BTF: a tracepoint, function or LSM hook this
    // kernel does not have fails the load whatever else holds.
    reqs.push({ kind: 'btf-type', btfKind: p.attachBtf.kind, name: p.attachBtf.name });
  } else if (p.runtimeTarget === 'btf' || p.runtimeTarget === 'placeholder') {
    if (p.progType === 'tracing' || p.progType === 'lsm') reqs.push({ kind: 'feature', name: 'btf' });
  }
  const pattern = classifySection(p.section)?.def.pattern ?? '';
  const target = p.runtimeTarget ? undefined : p.target;
  if (KPROBE.has(pattern) && p.target) {
    reqs.push(kprobeTarget(obj, p, hooks));
  } else {
    const attach = ATTACH_FEATURE[pattern];
    if (attach) reqs.push({ kind: 'feature', name: attach });
  }
  if (TRACEPOINT.has(pattern)) {
    // libbpf (and cilium/ebpf) read the tracepoint's id from tracefs: it has to be mounted.
    reqs.push({ kind: 'feature', name: 'tracefs' });
    if (target?.includes('/')) reqs.push({ kind: 'attach-target', mechanism: 'tracepoint', name: target });
  }
  if (RAW_TRACEPOINT.has(pattern) && target) reqs.push({ kind: 'attach-target', mechanism: 'raw_tracepoint', name: target });
  for (const h of p.helpers) {
    // Tracing programs get their helpers by attach type (iterators' bpf_seq_*, fentry's
    // bpf_get_func_arg): the attach type is part of what is asked.
    reqs.push(
      p.attachType
        ? { kind: 'helper', progType: p.progType, helper: h, attachType: p.attachType }
        : { kind: 'helper', progType: p.progType, helper: h },
    );
  }
  return reqs;
}

/**
 * A kprobe or kretprobe section names a function. When the kernel has it, it is a kprobe there. When
 * it does not (decided at check time), the name may be a label, the loader attaching the program
 * where it chooses: a kprobe on a function it picks, or a uprobe (gethostlatency's
 * kprobe/handle_entry on libc, funclatency's kprobe/dummy_kprobe). It stands for a kernel function
 * (`kernelOnly`) when the object says so: an fentry/fexit program uses the same name (fentry only
 * attaches to kernel functions), both flavours use it (kprobe/foo + kretprobe/foo: one function,
 * entered and returned from), or the program reads kernel objects (CO-RE on a kernel type other than
 * the registers, bpf_probe_read_kernel) — slabratetop's kprobe/kmem_cache_alloc, a function renamed
 * in 6.10, reads struct kmem_cache and is no uprobe.
 */
function kprobeTarget(obj: BpfObject, p: BpfProgramSpec, hooks: Map<string, Hook | undefined>): Requirement {
  const name = p.target!;
  const others = obj.programs.filter((q) => q !== p && q.target === name).map((q) => hooks.get(q.name)?.mechanism);
  const readsKernel =
    p.core.some((r) => !REGISTERS.has(essentialName(r.spec.root))) || p.helpers.some((h) => h.startsWith('probe_read_kernel'));
  const kernelOnly = others.includes('trampoline') || others.includes('kprobe') || readsKernel;
  return kernelOnly ? { kind: 'kprobe-target', name, kernelOnly: true } : { kind: 'kprobe-target', name };
}

/** The register structs a kprobe or uprobe program reads its arguments from (PT_REGS_PARM*). */
const REGISTERS = new Set(['pt_regs', 'user_pt_regs', 'user_regs_struct']);

/**
 * One requirement per CO-RE access the kernel must resolve, with the existence checks that guard it.
 * For each existence relocation and each value it may take, we find which instructions the verifier
 * could still reach; an access out of reach when the check is v is needed only when it is not v.
 */
function coreRequirements(obj: BpfObject, p: BpfProgramSpec): Requirement[] {
  const needs = p.core.filter((r) => !isExistence(r.kind) && r.kind !== 'type_id_local');
  if (!needs.length) return [];
  const le = obj.littleEndian;
  const code = p.linked.insns;
  // The object holds each check's local answer (clang's); on a kernel it may be either.
  const unknown = new Map<number, bigint | undefined>(p.core.filter((x) => isExistence(x.kind)).map((r) => [r.insn, undefined]));
  const base = reachable(code, { littleEndian: le, fixed: unknown });
  const checks = new Map<string, ProgramCoreRelo[]>();
  for (const r of p.core.filter((x) => isExistence(x.kind))) {
    const key = `${r.kind}|${JSON.stringify(r.spec)}`;
    checks.set(key, [...(checks.get(key) ?? []), r]);
  }
  const dead = new Map<string, [Uint8Array, Uint8Array]>();
  for (const [key, rs] of checks) {
    const at = (v: bigint): Uint8Array =>
      reachable(code, { littleEndian: le, fixed: new Map([...unknown, ...rs.map((r) => [r.insn, v] as const)]) });
    dead.set(key, [at(0n), at(1n)]);
  }
  const out: Requirement[] = [];
  for (const r of needs) {
    // Code no path reaches is dead whatever the kernel: the verifier never sees it.
    if (!base[r.insn]) continue;
    const guards: CoreGuard[] = [];
    for (const [key, [r0, r1]] of dead) {
      const e = checks.get(key)![0]!;
      if (!r0[r.insn]) guards.push({ kind: e.kind, spec: e.spec, is: 1 });
      if (!r1[r.insn]) guards.push({ kind: e.kind, spec: e.spec, is: 0 });
    }
    const req: Requirement = { kind: 'core', relo: coreClass(r.kind), kinds: [r.kind], spec: r.spec };
    if (guards.length) req.when = [guards];
    out.push(req);
  }
  return normalize(out);
}

/** The id of a CO-RE guard, for details: "field_exists(task_struct___x.__state)". */
export function guardName(g: CoreGuard): string {
  return `${g.kind}(${coreSpecName(g.spec)})`;
}

export { requirementId };
