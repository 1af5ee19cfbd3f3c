// What a workload needs from a node. Requirements name kernel features the way the kernel does
// (program/map/attach type names from uapi, helper names without `bpf_`, CONFIG_ options) and are
// checked against what the probes observed — never against a kernel version number: distributions
// backport features and configs remove them, so a version says little about a given node.
import type { Status } from '../probes/result.ts';

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
  | { kind: 'helper'; progType: string; helper: string }
  | { kind: 'kfunc'; name: string }
  /** A type the kernel's BTF must have: a program's attach target (fentry/lsm/iter func, tp_btf typedef). */
  | { kind: 'btf-type'; btfKind: 'func' | 'typedef' | 'struct'; name: string }
  | { kind: 'mount'; path: string; fs: FsName }
  | { kind: 'capability'; name: string }
  | { kind: 'delegation'; delegate: Delegation }
  | { kind: 'kconfig'; name: string; value: 'y' | 'm' | 'y/m' };

/** A requirement's stable one-line form, also accepted by the parser (profiles.ts): "map-type:ringbuf". */
export function requirementId(r: Requirement): string {
  switch (r.kind) {
    case 'feature': return `feature:${r.name}`;
    case 'program-type': return `program-type:${r.progType}${r.attachType ? `/${r.attachType}` : ''}`;
    case 'map-type': return `map-type:${r.mapType}`;
    case 'helper': return `helper:${r.progType}/${r.helper}`;
    case 'kfunc': return `kfunc:${r.name}`;
    case 'btf-type': return `btf-type:${r.btfKind}/${r.name}`;
    case 'mount': return `mount:${r.path}=${r.fs}`;
    case 'capability': return `capability:${r.name}`;
    case 'kconfig': return `kconfig:${r.name}=${r.value}`;
    case 'delegation': {
      const d = r.delegate;
      const parts = (['cmds', 'maps', 'progs', 'attachs'] as const).filter((k) => d[k].length).map((k) => `${k}=${d[k].join(':')}`);
      return `delegation:${parts.join(',')}`;
    }
  }
}

/** Sorted, de-duplicated by id: the same requirement list always prints the same way. */
export function normalize(reqs: readonly Requirement[]): Requirement[] {
  const byId = new Map<string, Requirement>();
  for (const r of reqs) byId.set(requirementId(r), r);
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
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
  /** True only when every requirement is `supported`. */
  ok: boolean;
  /** Every requirement, in normalized order. */
  results: Verdict[];
  /** The ones that are not `supported` — all of them, not only the first. */
  unmet: Verdict[];
}
