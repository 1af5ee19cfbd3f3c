// What a workload needs from a node. Requirements name kernel features the way the kernel does
// (program/map/attach type names from uapi, helper names without `bpf_`, CONFIG_ options) and are
// checked against what the probes observed — never against a kernel version number: distributions
// backport features and configs remove them, so a version says little about a given node.
import type { CoreClass, CoreKind, CoreSpec } from '../kernel/elf-core.ts';
import { coreSpecName } from '../kernel/elf-core.ts';
import type { Status } from '../contract/result.ts';

/** Named features: each maps to one or more probe facts (facts.ts) and a remediation (remediation.ts). */
export const FEATURES = [
  'bpf-syscall',
  'btf',
  'bpf-lsm',
  'kprobe-attach',
  'kprobe-multi',
  'uprobe-attach',
  'tracepoint-attach',
  'fentry',
  'sleepable',
  'xdp-frags',
  'ringbuf',
  'bounded-loops',
  'isa-v2',
  'isa-v3',
  'isa-v4',
  'global-data',
  'jit',
  'bpffs',
  'tracefs',
  'token',
] as const;
export type FeatureName = (typeof FEATURES)[number];

/** Superblock magics (include/uapi/linux/magic.h) for the filesystems workloads mount. */
export const FS_MAGIC = {
  bpf: 0xcafe4a11,
  tracefs: 0x74726163,
  debugfs: 0x64626720,
  securityfs: 0x73636673,
  cgroup2: 0x63677270,
} as const;
export type FsName = keyof typeof FS_MAGIC;

export interface Delegation {
  cmds: string[];
  maps: string[];
  progs: string[];
  attachs: string[];
}

export type Requirement =
  | { kind: 'feature'; name: FeatureName }
  | { kind: 'program-type'; progType: string; attachType?: string }
  | { kind: 'map-type'; mapType: string }
  /**
   * attachType: the program's expected attach type, when it has one. The kernel offers some helpers
   * only with some attach types (iterators' bpf_seq_printf); the id names it for tracing programs.
   */
  | { kind: 'helper'; progType: string; helper: string; attachType?: string }
  | { kind: 'kfunc'; name: string }
  /** A type the kernel's BTF must have: a program's attach target (fentry/lsm/iter func, tp_btf typedef). */
  | { kind: 'btf-type'; btfKind: 'func' | 'typedef' | 'struct'; name: string }
  | { kind: 'mount'; path: string; fs: FsName }
  | { kind: 'capability'; name: string }
  | { kind: 'delegation'; delegate: Delegation }
  | { kind: 'kconfig'; name: string; value: 'y' | 'm' | 'y/m' }
  /** A program in a section libbpf's SEC() table does not name: its program type is the loader's choice. */
  | { kind: 'section'; section: string }
  /**
   * A CO-RE relocation the kernel's BTF must resolve (docs/requirements.md, "CO-RE"). `when`: needed
   * only if one of these conjunctions of existence checks holds (the access is guarded by
   * bpf_core_*_exists() and dead otherwise); absent: always needed.
   */
  | { kind: 'core'; relo: CoreClass; kinds: CoreKind[]; spec: CoreSpec; when?: CoreGuard[][] }
  /** A tracepoint (tracefs events/<category>/<name>) or raw tracepoint the kernel must have. */
  | { kind: 'attach-target'; mechanism: 'tracepoint' | 'raw_tracepoint'; name: string }
  /**
   * What a kprobe/kretprobe section needs to attach: a kprobe on its target when that is a function of
   * the kernel (or `kernelOnly`: a placeholder for one); otherwise a kprobe or a uprobe, whichever
   * the loader attaches it as.
   */
  | { kind: 'kprobe-target'; name: string; kernelOnly?: true }
  /** A GPL-only helper or a kfunc called by an object whose license is not GPL-compatible. */
  | { kind: 'license'; what: 'helper' | 'kfunc'; name: string; progType?: string; license: string };

/** An existence relocation and the value it must have for a guarded access to be reached. */
export interface CoreGuard {
  kind: CoreKind;
  spec: CoreSpec;
  is: 0 | 1;
}

/** A requirement's stable one-line form, also accepted by the parser (profiles.ts): "map-type:ringbuf". */
export function requirementId(r: Requirement): string {
  switch (r.kind) {
    case 'feature':
      return `feature:${r.name}`;
    case 'program-type':
      return `program-type:${r.progType}${r.attachType ? `/${r.attachType}` : ''}`;
    case 'map-type':
      return `map-type:${r.mapType}`;
    case 'helper':
      return `helper:${r.progType}/${r.attachType && r.progType === 'tracing' ? `${r.attachType}/` : ''}${r.helper}`;
    case 'kfunc':
      return `kfunc:${r.name}`;
    case 'btf-type':
      return `btf-type:${r.btfKind}/${r.name}`;
    case 'mount':
      return `mount:${r.path}=${r.fs}`;
    case 'capability':
      return `capability:${r.name}`;
    case 'kconfig':
      return `kconfig:${r.name}=${r.value}`;
    case 'section':
      return `section:unknown/${r.section}`;
    case 'core':
      return `core:${r.relo}/${coreSpecName(r.spec)}`;
    case 'attach-target':
      return `attach-target:${r.mechanism}/${r.name}`;
    case 'kprobe-target':
      return `kprobe-target:${r.name}`;
    case 'license':
      return `license:${r.what}/${r.name}`;
    case 'delegation': {
      const d = r.delegate;
      const parts = (['cmds', 'maps', 'progs', 'attachs'] as const).filter((k) => d[k].length).map((k) => `${k}=${d[k].join(':')}`);
      return `delegation:${parts.join(',')}`;
    }
  }
}

/**
 * Sorted, de-duplicated by id: the same requirement list always prints the same way. Two CO-RE
 * requirements with one id are one access reached in several places: needed when any of them is.
 */
export function normalize(reqs: readonly Requirement[]): Requirement[] {
  const byId = new Map<string, Requirement>();
  for (const r of reqs) {
    const id = requirementId(r);
    const had = byId.get(id);
    byId.set(id, had?.kind === 'core' && r.kind === 'core' ? mergeCore(had, r) : r);
  }
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

function mergeCore(a: Extract<Requirement, { kind: 'core' }>, b: Extract<Requirement, { kind: 'core' }>): Requirement {
  const kinds = [...new Set([...a.kinds, ...b.kinds])].sort();
  const out: Requirement = { kind: 'core', relo: a.relo, kinds, spec: a.spec };
  if (a.when && b.when) {
    const seen = new Set<string>();
    out.when = [...a.when, ...b.when].filter((c) => {
      const k = JSON.stringify(c);
      return !seen.has(k) && seen.add(k);
    });
  }
  return out;
}

export interface Verdict {
  id: string;
  requirement: Requirement;
  status: Status;
  errno?: string;
  detail?: string;
  /** What an operator can do about it: config to set, boot parameter, sysctl, mount, capability, delegation. */
  remediation: string[];
}

export interface CheckResult {
  /** True only when every requirement that counts (see programs/groups) is `supported`. */
  ok: boolean;
  /** Every requirement, in normalized order. */
  results: Verdict[];
  /**
   * The ones that are not `supported` and stand in the way — all of them, not only the first. A
   * requirement only of a program another alternative replaces (groups) is in `results`, not here.
   */
  unmet: Verdict[];
}

/** One program's verdict: the worst of its own requirements (docs/requirements.md, "Programs"). */
export interface ProgramVerdict {
  name: string;
  section: string;
  progType: string;
  attachType?: string;
  status: Status;
  /** Whether the workload loads it: every program, or those named with --program. */
  loaded: boolean;
  /** The any-of group it is an alternative in, if any. */
  group?: string;
  /** Ids of its requirements, and of those not supported. */
  requirements: string[];
  unmet: string[];
}

/** Programs that are alternatives of one another: the group holds when one alternative does. */
export interface GroupVerdict {
  id: string;
  status: Status;
  /** Each alternative is a set of programs (one attach mechanism) that must all hold. */
  alternatives: { programs: string[]; status: Status }[];
}

export interface ObjectCheckResult extends CheckResult {
  /** The object's verdict: object-wide requirements, each loaded program, and each group. */
  status: Status;
  programs: ProgramVerdict[];
  groups: GroupVerdict[];
}
