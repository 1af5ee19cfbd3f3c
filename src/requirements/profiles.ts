// Profiles: named requirement sets, from the YAML config (`profiles:`) and built in. A requirement is
// written either as its one-line id ("map-type:ringbuf", "helper:kprobe/ringbuf_output",
// "kconfig:CONFIG_BPF_LSM=y") or as a one-key mapping ({ map-type: ringbuf }). Built-in profiles exist
// only for workloads whose kernel requirements are published; each cites its source.
import { ParseError } from '../base/errors.ts';
import { ATTACH_TYPE_NAMES, HELPER_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { FEATURES, FS_MAGIC, normalize, type Delegation, type FeatureName, type FsName, type Requirement } from './model.ts';

export const KINDS = [
  'feature',
  'program-type',
  'map-type',
  'helper',
  'kfunc',
  'btf-type',
  'mount',
  'capability',
  'delegation',
  'kconfig',
  'core',
  'attach-target',
  'kprobe-target',
] as const;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME = /^[a-z0-9_]+$/;
const CAPS = /^cap_[a-z_]+$/;

function known(list: readonly (string | undefined)[], name: string): boolean {
  return list.includes(name);
}

/** One requirement from its string or one-key-object form; `where` names it in errors. */
export function parseRequirement(value: unknown, input: string, where: string): Requirement {
  let kind: string;
  let spec: string;
  if (typeof value === 'string') {
    const i = value.indexOf(':');
    if (i < 0) throw new ParseError(input, `${where}: "${value}" is not "<kind>:<what>" (kinds: ${KINDS.join(', ')})`);
    kind = value.slice(0, i);
    spec = value.slice(i + 1);
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1) {
    const [k, v] = Object.entries(value)[0]!;
    kind = k;
    if (kind === 'delegation' && typeof v === 'object' && v !== null && !Array.isArray(v))
      return { kind, delegate: parseDelegation(v, input, where) };
    if (typeof v !== 'string') throw new ParseError(input, `${where}: the value of "${k}" must be a string`);
    spec = v;
  } else {
    throw new ParseError(input, `${where}: a requirement is a string "<kind>:<what>" or a mapping with one key, got ${describe(value)}`);
  }
  const bad = (why: string): ParseError => new ParseError(input, `${where}: ${kind}:${spec}: ${why}`);
  switch (kind) {
    case 'feature':
      if (!(FEATURES as readonly string[]).includes(spec)) throw bad(`unknown feature (known: ${FEATURES.join(', ')})`);
      return { kind, name: spec as FeatureName };
    case 'program-type': {
      const [pt, at, extra] = spec.split('/');
      if (extra !== undefined || !pt || !known(PROG_TYPE_NAMES, pt))
        throw bad('want <program type>[/<attach type>] with kernel names (xdp, sched_cls, lsm/lsm_mac)');
      if (at !== undefined && !known(ATTACH_TYPE_NAMES, at)) throw bad(`unknown attach type "${at}"`);
      return at === undefined ? { kind, progType: pt } : { kind, progType: pt, attachType: at };
    }
    case 'map-type':
      if (!known(MAP_TYPE_NAMES, spec)) throw bad('unknown map type (kernel names: hash, ringbuf, lru_hash, ...)');
      return { kind, mapType: spec };
    case 'helper': {
      // <type>/<helper>, or for tracing programs <type>/<attach type>/<helper> (the id's own form).
      const parts = spec.split('/');
      const [pt, at, h] = parts.length === 3 ? parts : [parts[0], undefined, parts[1]];
      const helper = h?.replace(/^bpf_/, '');
      if (parts.length > 3 || !pt || !helper || !known(PROG_TYPE_NAMES, pt))
        throw bad('want <program type>/<helper>, e.g. kprobe/ringbuf_output (tracing/<attach type>/<helper> for tracing)');
      if (at !== undefined && !known(ATTACH_TYPE_NAMES, at)) throw bad(`unknown attach type "${at}"`);
      if (!HELPER_NAMES.includes(helper) || helper === 'unspec') throw bad(`unknown helper "${h}"`);
      return at === undefined ? { kind, progType: pt, helper } : { kind, progType: pt, helper, attachType: at };
    }
    case 'core': {
      // core:field/<struct>.<member>[.<member>...], core:type/<struct>, core:enumval/<enum>::<enumerator>.
      const m = /^(field|type|enumval)\/(.+)$/.exec(spec);
      if (!m) throw bad('want field/<struct>.<member>..., type/<struct> or enumval/<enum>::<name>');
      const what = m[2]!;
      if (m[1] === 'enumval') {
        const [e, n, extra] = what.split('::');
        if (extra !== undefined || !e || !n || !IDENT.test(e) || !IDENT.test(n)) throw bad('want enumval/<enum>::<enumerator>');
        return {
          kind,
          relo: 'enumval',
          kinds: ['enumval_value'],
          spec: { class: 'enumval', rootKind: 'enum', root: e, steps: [], enumerator: n },
        };
      }
      const path = what.split('.');
      if (!path.every((x) => IDENT.test(x)) || (m[1] === 'field' ? path.length < 2 : path.length !== 1))
        throw bad(m[1] === 'field' ? 'want field/<struct>.<member>[.<member>...]' : 'want type/<struct>');
      if (m[1] === 'type')
        return {
          kind,
          relo: 'type',
          kinds: ['type_size'],
          spec: { class: 'type', rootKind: 'struct', root: path[0]!, steps: [], shape: { k: 'any' } },
        };
      return {
        kind,
        relo: 'field',
        kinds: ['field_byte_offset'],
        spec: {
          class: 'field',
          rootKind: 'struct',
          root: path[0]!,
          steps: [{ index: 0 }, ...path.slice(1).map((member) => ({ member, shape: { k: 'any' as const } }))],
        },
      };
    }
    case 'attach-target': {
      const m = /^(tracepoint)\/([\w.-]+\/[\w.-]+)$|^(raw_tracepoint)\/([\w.-]+)$/.exec(spec);
      if (!m) throw bad('want tracepoint/<category>/<name> or raw_tracepoint/<name>');
      return m[1] ? { kind, mechanism: 'tracepoint', name: m[2]! } : { kind, mechanism: 'raw_tracepoint', name: m[4]! };
    }
    case 'kprobe-target':
      if (!/^[A-Za-z_][\w.]*$/.test(spec)) throw bad('want a function name');
      return { kind, name: spec, kernelOnly: true };
    case 'kfunc':
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(spec)) throw bad('not a C identifier');
      return { kind, name: spec };
    case 'btf-type': {
      const m = /^(func|typedef|struct)\/([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec);
      if (!m) throw bad('want func|typedef|struct/<C identifier>, e.g. func/do_unlinkat or typedef/btf_trace_sched_switch');
      return { kind, btfKind: m[1] as 'func' | 'typedef' | 'struct', name: m[2]! };
    }
    case 'mount': {
      const eq = spec.lastIndexOf('=');
      const path = spec.slice(0, eq);
      const fs = spec.slice(eq + 1);
      if (eq < 0 || !path.startsWith('/') || !(fs in FS_MAGIC))
        throw bad(`want <absolute path>=<fs> with fs one of ${Object.keys(FS_MAGIC).join(', ')}`);
      return { kind, path, fs: fs as FsName };
    }
    case 'capability':
      if (!CAPS.test(spec)) throw bad('want a capability name like cap_bpf');
      return { kind, name: spec };
    case 'kconfig': {
      const m = /^(CONFIG_[A-Z0-9_]+)(?:=(y|m|y\/m))?$/.exec(spec);
      if (!m) throw bad('want CONFIG_NAME[=y|=m|=y/m]');
      return { kind, name: m[1]!, value: (m[2] ?? 'y') as 'y' | 'm' | 'y/m' };
    }
    case 'delegation': {
      const obj: Record<string, string[]> = {};
      for (const part of spec.split(',')) {
        const [k, v] = part.split('=');
        if (!k || v === undefined) throw bad('want cmds=a:b,maps=c,progs=d,attachs=e');
        obj[k] = v.split(':').filter(Boolean);
      }
      return { kind, delegate: parseDelegation(obj, input, where) };
    }
    default:
      throw new ParseError(input, `${where}: unknown requirement kind "${kind}" (kinds: ${KINDS.join(', ')})`);
  }
}

function parseDelegation(v: object, input: string, where: string): Delegation {
  const out: Delegation = { cmds: [], maps: [], progs: [], attachs: [] };
  const lists: Record<keyof Delegation, readonly (string | undefined)[]> = {
    cmds: [],
    maps: MAP_TYPE_NAMES,
    progs: PROG_TYPE_NAMES,
    attachs: ATTACH_TYPE_NAMES,
  };
  for (const [k, items] of Object.entries(v)) {
    if (!(k in out)) throw new ParseError(input, `${where}: delegation key "${k}" is not cmds, maps, progs or attachs`);
    if (!Array.isArray(items) || !items.every((x) => typeof x === 'string' && NAME.test(x))) {
      throw new ParseError(input, `${where}: delegation ${k} must be a list of lowercase kernel names`);
    }
    const key = k as keyof Delegation;
    const unknown = key === 'cmds' ? [] : (items as string[]).filter((x) => x !== 'any' && !known(lists[key], x));
    if (unknown.length) throw new ParseError(input, `${where}: delegation ${k}: unknown ${unknown.join(', ')}`);
    out[key] = [...new Set(items as string[])].sort();
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return `a mapping with ${Object.keys(v).length} keys`;
  return typeof v;
}

/**
 * The `profiles:` value of the config file: a mapping of profile name to a list of requirements.
 * Throws ParseError naming `input` and the profile/entry on the first malformed item.
 */
export function parseProfiles(obj: unknown, input: string): Record<string, Requirement[]> {
  if (obj === undefined || obj === null) return {};
  if (typeof obj !== 'object' || Array.isArray(obj))
    throw new ParseError(input, `profiles must be a mapping of name to requirement list, got ${describe(obj)}`);
  const out: Record<string, Requirement[]> = {};
  for (const [name, list] of Object.entries(obj)) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
      throw new ParseError(
        input,
        `profile name "${name}" must be lowercase letters, digits and '-', at most 63 characters (it becomes a label and a condition)`,
      );
    }
    if (!Array.isArray(list) || list.length === 0) throw new ParseError(input, `profiles.${name} must be a non-empty list of requirements`);
    out[name] = normalize(list.map((item, i) => parseRequirement(item, input, `profiles.${name}[${i}]`)));
  }
  return out;
}

const req = (ids: string[], source: string): Requirement[] =>
  normalize(ids.map((id, i) => parseRequirement(id, 'built-in profiles', `${source}[${i}]`)));

export const BUILTIN_PROFILES: Readonly<Record<string, Requirement[]>> = Object.freeze({
  // Cilium "System Requirements" → Linux Kernel → Base Requirements (docs.cilium.io/en/latest/operations/
  // system_requirements/, Documentation/operations/system_requirements.rst): these options must be
  // enabled, "either choice is valid" between built in and module. The version floor it also states
  // is deliberately not a requirement here.
  cilium: req(
    [
      'kconfig:CONFIG_BPF=y/m',
      'kconfig:CONFIG_BPF_SYSCALL=y/m',
      'kconfig:CONFIG_NET_CLS_BPF=y/m',
      'kconfig:CONFIG_BPF_JIT=y/m',
      'kconfig:CONFIG_NET_CLS_ACT=y/m',
      'kconfig:CONFIG_NET_SCH_INGRESS=y/m',
      'kconfig:CONFIG_CRYPTO_SHA1=y/m',
      'kconfig:CONFIG_CRYPTO_USER_API_HASH=y/m',
      'kconfig:CONFIG_CGROUPS=y/m',
      'kconfig:CONFIG_CGROUP_BPF=y/m',
      'kconfig:CONFIG_PERF_EVENTS=y/m',
      'kconfig:CONFIG_SCHEDSTATS=y/m',
    ],
    'cilium',
  ),
  // Falco modern eBPF probe, "Requirements" (falco.org/docs/concepts/event-sources/kernel/): no fixed
  // kernel version; it needs BPF ring buffer support, a kernel that exposes BTF, and BPF tracing
  // programs (its programs are tp_btf; maintainers in falcosecurity/falco#2792: "we need the
  // BPF_PROG_TYPE_TRACING" program type).
  'falco-modern-ebpf': req(['map-type:ringbuf', 'feature:btf', 'program-type:tracing/trace_raw_tp'], 'falco-modern-ebpf'),
});
