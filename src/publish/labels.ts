// Facts → node labels: a pure projection with validation (docs/kubernetes.md lists every label).
// Bounded on purpose: program and map types come from the uapi tables, not from whatever keys a
// report carries, and helpers are never labels (hundreds per program type would bloat every Node
// object that every node watcher receives; NFD #2022 is that lesson).
import { UsageError } from '../base/errors.ts';
import { MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import type { ProbeResult } from '../contract/result.ts';
import type { BpffsMount, ProbeReport } from '../contract/report.ts';
import { profileConditionType } from './conditions.ts';
import type { ProfileVerdict } from './types.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `prefix` cannot be our label/condition domain, or undefined when it can. */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return 'must not be empty';
  if (prefix.length > 253) return `is ${prefix.length} characters, more than 253`;
  if (!prefix.split('.').every((part) => DNS1123_LABEL.test(part))) {
    return 'must be a lowercase DNS subdomain (a-z, 0-9, "-", dot-separated)';
  }
  // Reserved for Kubernetes itself; NodeRestriction also forbids node-scoped writers most of them.
  for (const reserved of ['kubernetes.io', 'k8s.io']) {
    if (prefix === reserved || prefix.endsWith(`.${reserved}`)) return `is reserved (*.${reserved} belongs to Kubernetes)`;
  }
  return undefined;
}

export function validatePrefix(prefix: string): string {
  const problem = prefixProblem(prefix);
  if (problem) throw new UsageError(`kubernetes.labelPrefix "${prefix}" ${problem}`);
  return prefix;
}

/** Why `name` is not a valid label name (the part after the slash), or undefined. */
export function labelNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 63) return `name "${name}" must be 1-63 characters`;
  if (!NAME.test(name)) return `name "${name}" must be alphanumeric, "-", "_" or "." and start and end alphanumeric`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `value "${value}" is longer than 63 characters`;
  if (value !== '' && !NAME.test(value)) return `value "${value}" must be alphanumeric, "-", "_" or "."`;
  return undefined;
}

/** Key features: label name → where its result is in the report (first section present wins). */
const FEATURES: Record<string, (r: ProbeReport) => ProbeResult | undefined> = {
  btf: (r) => fact(r, 'btf', 'vmlinux'),
  ringbuf: (r) => r.mapTypes['ringbuf'],
  'bpf-lsm': (r) => fact(r, 'attach', 'lsm') ?? fact(r, 'security', 'bpf_lsm'),
  'kprobe-attach': (r) => fact(r, 'attach', 'kprobe'),
  'kprobe-multi': (r) => fact(r, 'attach', 'kprobe_multi'),
  'uprobe-attach': (r) => fact(r, 'attach', 'uprobe'),
  'uprobe-multi': (r) => fact(r, 'attach', 'uprobe_multi'),
  'tracepoint-attach': (r) => fact(r, 'attach', 'tracepoint'),
  fentry: (r) => fact(r, 'attach', 'fentry'),
  tcx: (r) => fact(r, 'attach', 'tcx'),
  netkit: (r) => fact(r, 'attach', 'netkit'),
  'struct-ops': (r) => fact(r, 'attach', 'struct_ops'),
  'token-delegation': (r) => tokenDelegation(r),
};

function fact(r: ProbeReport, section: string, key: string): ProbeResult | undefined {
  const s = r[section];
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return undefined;
  const f = (s as Record<string, unknown>)[key];
  if (typeof f !== 'object' || f === null || typeof (f as ProbeResult).status !== 'string') return undefined;
  return f as ProbeResult;
}

// A node offers token delegation when a bpffs mount carries delegate_cmds: that is mount
// configuration, readable by anyone, so it is conclusive. Whether *this* process can create a token
// is a different fact (from the host user namespace it never can: EOPNOTSUPP), and not the label's.
function tokenDelegation(r: ProbeReport): ProbeResult | undefined {
  const mounts = r['bpffs'];
  if (!Array.isArray(mounts)) return undefined;
  const ms = mounts as BpffsMount[];
  if (ms.some((m) => m.token?.status === 'supported' || (m.delegate?.cmds?.length ?? 0) > 0)) return { status: 'supported' };
  return { status: 'unsupported', detail: ms.length === 0 ? 'no bpffs mounted' : 'no bpffs mount has delegate_cmds' };
}

/**
 * `true` for supported, `false` for unsupported, and NO label for not-permitted or error: those
 * mean availability unknown, and a `false` label would be read as "the kernel lacks it".
 */
function value(r: ProbeResult | undefined): string | undefined {
  if (r?.status === 'supported') return 'true';
  if (r?.status === 'unsupported') return 'false';
  return undefined;
}

/** Label names without the prefix, each validated; `projectLabels` adds the prefix. */
export function projectLabelNames(report: ProbeReport, checks: readonly ProfileVerdict[]): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (name: string, v: string | undefined): void => {
    if (v === undefined) return;
    const problem = labelNameProblem(name) ?? labelValueProblem(v);
    // Only reachable through a profile name; profile names are validated where they are parsed.
    if (problem) throw new UsageError(`label ${problem}`);
    out[name] = v;
  };
  for (const t of PROG_TYPE_NAMES) if (t) put(`program-type.${t}`, value(report.programTypes[t]));
  for (const t of MAP_TYPE_NAMES) if (t) put(`map-type.${t}`, value(report.mapTypes[t]));
  for (const [name, get] of Object.entries(FEATURES)) put(`feature.${name}`, value(get(report)));
  for (const c of checks) {
    if (c.status !== 'Unknown') put(`profile.${labelSafe(c.profile)}`, c.status === 'True' ? 'true' : 'false');
  }
  return out;
}

export function projectLabels(prefix: string, report: ProbeReport, checks: readonly ProfileVerdict[]): Record<string, string> {
  const names = projectLabelNames(report, checks);
  return Object.fromEntries(Object.entries(names).map(([n, v]) => [`${prefix}/${n}`, v]));
}

/** Profile names may carry characters a label name cannot ("cilium 1.16"); fold them. */
export function labelSafe(name: string): string {
  // Cut to length first, then trim: a cut can end on "-", which no label name may.
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .slice(0, 63 - 'profile.'.length)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

/**
 * Why these profiles cannot all be published side by side, or undefined: each becomes a label
 * `profile.<name>` and a condition `<prefix>/Profile<Name>`, and two profiles that fold to the same
 * one ("cilium-1" and "cilium1", or names alike in their first 55 characters) would overwrite each
 * other on every write. Checked where the configuration is loaded, so it fails at start, not later.
 */
export function profileProjectionProblem(names: readonly string[]): string | undefined {
  const labels = new Map<string, string>();
  const conditions = new Map<string, string>();
  for (const name of names) {
    const label = `profile.${labelSafe(name)}`;
    const problem = labelNameProblem(label);
    if (problem || label === 'profile.') return `profile "${name}" cannot be a node label: ${problem ?? 'nothing of the name is left'}`;
    const condition = profileConditionType('', name);
    for (const [map, key, what] of [
      [labels, label, `label ${label}`],
      [conditions, condition, `condition type <prefix>${condition}`],
    ] as const) {
      const other = map.get(key);
      if (other !== undefined) return `profiles "${other}" and "${name}" would both be published as ${what}; rename one`;
      map.set(key, name);
    }
  }
  return undefined;
}

// The ownership record, like NFD's nfd.node.kubernetes.io/feature-labels: label names we set,
// prefix stripped, sorted, comma-separated. Only names listed here are ever removed by us.
export const ownedLabelsAnnotation = (prefix: string): string => `${prefix}/owned-labels`;

export function encodeOwned(prefix: string, keys: Iterable<string>): string {
  const p = `${prefix}/`;
  return [...keys]
    .filter((k) => k.startsWith(p))
    .map((k) => k.slice(p.length))
    .sort()
    .join(',');
}

/** Full label keys recorded as ours. Entries that are not valid names are ignored, not trusted. */
export function decodeOwned(prefix: string, annotation: string | undefined): string[] {
  if (!annotation) return [];
  return annotation
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && labelNameProblem(s) === undefined)
    .map((s) => `${prefix}/${s}`);
}
