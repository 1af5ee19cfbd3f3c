// check(requirements, report): every requirement against what the probes observed on this node, each
// with its status in the result contract and, when unmet, what to change. Pure: the report and the
// kernel views in CheckOptions (BTF, function and tracepoint lists, the verifier's license answers)
// are the only inputs, so the same inputs always give the same verdicts. checkObject() adds the
// per-program verdicts and the any-of groups of an eBPF object (docs/requirements.md, "Programs").
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfKind, loadBtfFile, loadVmlinuxBtf, type Btf } from '../kernel/btf.ts';
import { coreSpecName, resolveCore } from '../kernel/elf-core.ts';
import type { ProbeReport } from '../contract/report.ts';
import { probeError, type ProbeResult, type Status } from '../contract/result.ts';
import { bpffsMounts, currentConfig, fact, kconfig, mountFact, worst } from './report-facts.ts';
import { guardName, type ObjectRequirements } from './from-elf.ts';
import {
  FS_MAGIC,
  normalize,
  requirementId,
  type CheckResult,
  type CoreGuard,
  type Delegation,
  type FeatureName,
  type GroupVerdict,
  type ObjectCheckResult,
  type ProgramVerdict,
  type Requirement,
  type Verdict,
} from './model.ts';
import { capabilityAdvice, configAdvice, FS_MOUNT_COMMAND, grantCapability, MAP_TYPE_CONFIG, PROG_TYPE_CONFIG } from './remediation.ts';

/** The running kernel as check() needs to see it beyond the probe report; each read on first use. */
export interface KernelView {
  /** vmlinux BTF and every module's split BTF, for CO-RE; a string says why there is none. */
  coreBtf?: () => { vmlinux: Btf; modules: Btf[] } | string;
  /** Names of the kernel's functions (text symbols in /proc/kallsyms); a string says why unknown. */
  functions?: () => ReadonlySet<string> | string;
  /** Which of these tracepoints ("category/name") exist (tracefs events/); a string says why unknown. */
  tracepoints?: (names: readonly string[]) => ReadonlySet<string> | string;
  /**
   * Whether a helper is GPL-only, in the verifier's own words (a real load with a non-GPL license,
   * docs/requirements.md "License"): `supported` with value true/false, else why it is unknown.
   */
  gplOnly?: (helper: string, progType: string | undefined) => ProbeResult & { value?: boolean };
}

export interface CheckOptions {
  /** vmlinux BTF, for btf-type requirements (loaded on first use); absent: those are not checked. */
  btf?: () => { findId(kind: number, name: string): number | undefined } | undefined;
  kernel?: KernelView;
}

interface Context {
  report: ProbeReport;
  opts: CheckOptions;
  btf: () => { findId(kind: number, name: string): number | undefined } | undefined;
  core: () => { vmlinux: Btf; modules: Btf[] } | string;
  functions: () => ReadonlySet<string> | string;
  tracepoints: () => ReadonlySet<string> | string;
  /** Every tracepoint the requirements of this check name, asked for at once. */
  wantedTracepoints: string[];
}

function context(requirements: readonly Requirement[], report: ProbeReport, opts: CheckOptions): Context {
  const once = <T>(f: () => T): (() => T) => {
    let done = false;
    let v: T;
    return () => {
      if (!done) {
        v = f();
        done = true;
      }
      return v;
    };
  };
  const ctx: Context = {
    report,
    opts,
    btf: once(() => opts.btf?.() ?? undefined),
    core: once(() => opts.kernel?.coreBtf?.() ?? 'not probed: no kernel BTF view was given'),
    functions: once(() => opts.kernel?.functions?.() ?? 'not probed: no kernel function list was given'),
    tracepoints: once(() => opts.kernel?.tracepoints?.(ctx.wantedTracepoints) ?? 'not probed: no tracepoint list was given'),
    wantedTracepoints: [
      ...new Set(requirements.flatMap((r) => (r.kind === 'attach-target' && r.mechanism === 'tracepoint' ? [r.name] : []))),
    ],
  };
  return ctx;
}

function judge(r: Requirement, ctx: Context): Verdict {
  switch (r.kind) {
    case 'btf-type':
      return btfTypeVerdict(r, ctx.btf);
    case 'core':
      return coreVerdict(r, ctx);
    case 'attach-target':
      return attachTargetVerdict(r, ctx);
    case 'kprobe-target':
      return kprobeTargetVerdict(r, ctx);
    case 'license':
      return licenseVerdict(r, ctx);
    case 'section':
      return {
        id: requirementId(r),
        requirement: r,
        status: 'error',
        detail: `section "${r.section}" is not a libbpf SEC() name: the program type is chosen by the loader at run time (cilium/ebpf takes it from the ProgramSpec), so what it needs cannot be told from the object`,
        remediation: [
          'say what the program needs with --require program-type:<type> (and helper:<type>/<helper>), or leave the program out with --program',
        ],
      };
    default:
      return verdict(r, ctx.report);
  }
}

export function check(requirements: readonly Requirement[], report: ProbeReport, opts: CheckOptions = {}): CheckResult {
  const reqs = normalize(requirements);
  const ctx = context(reqs, report, opts);
  const results = reqs.map((r) => judge(r, ctx));
  const unmet = results.filter((v) => v.status !== 'supported');
  return { ok: unmet.length === 0, results, unmet };
}

// Alternatives: the best one decides (supported, then availability unknown, then error, then refused).
const BEST: Record<Status, number> = { supported: 0, 'not-permitted': 1, error: 2, unsupported: 3 };
const best = (ss: readonly Status[]): Status => ss.reduce<Status>((b, s) => (BEST[s] < BEST[b] ? s : b), 'unsupported');
const worstStatus = (ss: readonly Status[]): Status => worst(ss.map((status) => ({ status }))).status;

/**
 * An object's verdict: its own requirements, every program it loads (all of them, or `programs`),
 * and each group of alternatives — which holds when all programs of one alternative hold. Named
 * programs are each required: the workload said it loads them.
 */
export function checkObject(
  obj: ObjectRequirements,
  extra: readonly Requirement[],
  report: ProbeReport,
  opts: CheckOptions = {},
  programs?: readonly string[],
): ObjectCheckResult {
  const all = [...obj.object, ...obj.programs.flatMap((p) => p.requirements), ...extra];
  const ctx = context(all, report, opts);
  const cache = new Map<string, Verdict>();
  const judged = (r: Requirement): Verdict => {
    const key = JSON.stringify(r);
    let v = cache.get(key);
    if (!v) cache.set(key, (v = judge(r, ctx)));
    return v;
  };
  const objectVerdicts = obj.object.map(judged);
  const extraVerdicts = normalize(extra).map(judged);
  const selected = new Set(programs ?? obj.programs.map((p) => p.name));
  const verdicts = new Map<string, Verdict[]>();
  const progs: ProgramVerdict[] = obj.programs.map((p) => {
    const vs = p.requirements.map(judged);
    verdicts.set(p.name, vs);
    const pv: ProgramVerdict = {
      name: p.name,
      section: p.section,
      progType: p.progType,
      status: worstStatus(vs.map((v) => v.status)),
      loaded: selected.has(p.name),
      requirements: vs.map((v) => v.id),
      unmet: vs.filter((v) => v.status !== 'supported').map((v) => v.id),
    };
    if (p.attachType) pv.attachType = p.attachType;
    if (p.group && !programs) pv.group = p.group;
    return pv;
  });
  const statusOf = new Map(progs.map((p) => [p.name, p.status]));
  // With --program the workload has said what it loads: no alternatives left to choose from.
  const groups: GroupVerdict[] = programs
    ? []
    : obj.groups.map((g) => {
        const alternatives = g.alternatives.map((names) => ({ programs: names, status: worstStatus(names.map((n) => statusOf.get(n)!)) }));
        return { id: g.id, status: best(alternatives.map((a) => a.status)), alternatives };
      });
  const grouped = new Set(groups.flatMap((g) => g.alternatives.flatMap((a) => a.programs)));
  const counted: Verdict[] = [...objectVerdicts];
  const units: Status[] = objectVerdicts.map((v) => v.status);
  for (const p of progs) {
    if (!p.loaded || grouped.has(p.name)) continue;
    units.push(p.status);
    counted.push(...verdicts.get(p.name)!);
  }
  for (const g of groups) {
    units.push(g.status);
    if (g.status !== 'supported') for (const a of g.alternatives) for (const n of a.programs) counted.push(...verdicts.get(n)!);
  }
  const byId = <T extends Verdict>(vs: T[]): T[] => {
    const m = new Map<string, T>();
    for (const v of vs) if (!m.has(v.id) || (m.get(v.id)!.status === 'supported' && v.status !== 'supported')) m.set(v.id, v);
    return [...m.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };
  const results = byId([...objectVerdicts, ...[...verdicts.values()].flat(), ...extraVerdicts]);
  const unmet = byId([...counted, ...extraVerdicts].filter((v) => v.status !== 'supported'));
  return { ok: unmet.length === 0, status: worstStatus(units), results, unmet, programs: progs, groups };
}

/** The CheckOptions for the kernel under `hostRoot`: its BTF, kallsyms and tracefs, read on first use. */
export function hostKernelOptions(hostRoot: string, extra: Partial<KernelView> = {}): CheckOptions {
  return {
    btf: vmlinuxBtfFor(hostRoot),
    kernel: { coreBtf: () => kernelBtf(hostRoot), functions: () => kernelFunctions(hostRoot), ...extra },
  };
}

function kernelBtf(hostRoot: string): { vmlinux: Btf; modules: Btf[] } | string {
  let vmlinux: Btf;
  try {
    vmlinux = loadVmlinuxBtf(hostRoot);
  } catch (e) {
    return `not probed: vmlinux BTF is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const modules: Btf[] = [];
  const dir = join(hostRoot, 'sys/kernel/btf');
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((n) => n !== 'vmlinux')
      .sort();
  } catch {
    // No module BTF directory listing: vmlinux alone.
  }
  for (const n of names) {
    try {
      modules.push(loadBtfFile(join(dir, n), vmlinux));
    } catch {
      // A module BTF that does not parse is skipped: candidates come from vmlinux first anyway.
    }
  }
  return { vmlinux, modules };
}

function kernelFunctions(hostRoot: string): ReadonlySet<string> | string {
  const path = join(hostRoot, 'proc/kallsyms');
  try {
    return parseKallsymsFunctions(readFileText(path));
  } catch (e) {
    return `${path} is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
}

const readFileText = (p: string): string => readFileSync(p, 'latin1');

/** Text (function) symbols of /proc/kallsyms, module ones included ("addr t name [module]"). */
export function parseKallsymsFunctions(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a < 0 || b < 0) continue;
    const t = line[a + 1];
    if (t !== 't' && t !== 'T' && t !== 'w' && t !== 'W') continue;
    const end = line.indexOf('\t', b + 1);
    out.add(line.slice(b + 1, end < 0 ? undefined : end));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// CO-RE, attach targets, license

function coreVerdict(req: Extract<Requirement, { kind: 'core' }>, ctx: Context): Verdict {
  const id = requirementId(req);
  const k = ctx.core();
  if (typeof k === 'string')
    return {
      id,
      requirement: req,
      status: 'error',
      detail: k.startsWith('not probed') ? k : `not probed: ${k}`,
      remediation: [
        "CO-RE relocations are resolved against the kernel's BTF: CONFIG_DEBUG_INFO_BTF=y and /sys/kernel/btf/vmlinux readable",
      ],
    };
  const value = (g: CoreGuard): 0 | 1 => {
    const r = resolveCore(g.kind, g.spec, k.vmlinux, k.modules);
    return r.ok && r.value !== 0n ? 1 : 0;
  };
  if (req.when && !req.when.some((conj) => conj.every((g) => value(g) === g.is))) {
    const why = req.when.map((conj) => conj.map((g) => `${guardName(g)} is ${g.is}`).join(' and ')).join(', or ');
    return {
      id,
      requirement: req,
      status: 'supported',
      detail: `not reached on this kernel: the access runs only when ${why}`,
      remediation: [],
    };
  }
  for (const kind of req.kinds) {
    const r = resolveCore(kind, req.spec, k.vmlinux, k.modules);
    if (!r.ok) {
      return {
        id,
        requirement: req,
        status: 'unsupported',
        detail: `CO-RE ${kind} relocation of ${coreSpecName(req.spec)}: ${r.detail}${r.reason === 'ambiguous' ? ' (libbpf refuses an ambiguous relocation)' : ' (libbpf poisons the instruction, and the verifier refuses the program when it reaches it)'}`,
        remediation: [
          `a kernel whose BTF has ${coreSpecName(req.spec)} as the object expects, or an object that guards this access with bpf_core_${req.relo === 'field' ? 'field' : req.relo === 'type' ? 'type' : 'enum_value'}_exists() for kernels without it`,
        ],
      };
    }
  }
  return { id, requirement: req, status: 'supported', remediation: [] };
}

function attachTargetVerdict(req: Extract<Requirement, { kind: 'attach-target' }>, ctx: Context): Verdict {
  const id = requirementId(req);
  if (req.mechanism === 'raw_tracepoint') {
    const btf = ctx.btf();
    if (!btf)
      return {
        id,
        requirement: req,
        status: 'error',
        detail: 'not probed: no vmlinux BTF to find the raw tracepoint in (btf_trace_<name>)',
        remediation: ['CONFIG_DEBUG_INFO_BTF=y lets bpfready tell which raw tracepoints the kernel has'],
      };
    const k = ctx.core();
    const found =
      btf.findId(BtfKind.TYPEDEF, `btf_trace_${req.name}`) !== undefined ||
      (typeof k !== 'string' && k.modules.some((m) => m.ownIdsByEssentialName([BtfKind.TYPEDEF], `btf_trace_${req.name}`).length > 0));
    return found
      ? { id, requirement: req, status: 'supported', remediation: [] }
      : {
          id,
          requirement: req,
          status: 'unsupported',
          detail: `the kernel has no raw tracepoint ${req.name} (no btf_trace_${req.name} in its BTF)`,
          remediation: [`a kernel with tracepoint ${req.name} (they differ between kernel versions and builds)`],
        };
  }
  const tps = ctx.tracepoints();
  if (typeof tps === 'string')
    return {
      id,
      requirement: req,
      status: 'error',
      detail: tps.startsWith('not probed') ? tps : `not probed: ${tps}`,
      remediation: ['bpfready reads the tracepoint list from tracefs: mount it, or give the check CAP_SYS_ADMIN to mount it privately'],
    };
  if (tps.has(req.name)) return { id, requirement: req, status: 'supported', remediation: [] };
  const cfg = currentConfig(ctx.report);
  return {
    id,
    requirement: req,
    status: 'unsupported',
    detail: `the kernel has no tracepoint ${req.name} (tracefs events/${req.name})`,
    remediation: req.name.startsWith('syscalls/')
      ? configAdvice(['CONFIG_FTRACE_SYSCALLS'], cfg)
      : [`a kernel with tracepoint ${req.name} (they differ between kernel versions and builds)`],
  };
}

function kprobeTargetVerdict(req: Extract<Requirement, { kind: 'kprobe-target' }>, ctx: Context): Verdict {
  const id = requirementId(req);
  const kp = verdict({ kind: 'feature', name: 'kprobe-attach' }, ctx.report);
  const asKprobe = (detail?: string): Verdict => ({
    ...kp,
    id,
    requirement: req,
    ...(detail ? { detail: kp.detail ? `${detail}; ${kp.detail}` : detail } : {}),
  });
  const fns = ctx.functions();
  const placeholder = /^dummy_/.test(req.name);
  if (typeof fns !== 'string' && fns.has(req.name)) return asKprobe(kp.status === 'supported' ? undefined : `kprobe on ${req.name}`);
  if (req.kernelOnly) {
    if (placeholder || kp.status !== 'supported') return asKprobe(`${req.name} stands for a kernel function the loader picks at run time`);
    return {
      id,
      requirement: req,
      status: 'error',
      detail:
        typeof fns === 'string'
          ? `cannot tell whether ${req.name} is a function of this kernel: ${fns}`
          : `${req.name} is not a function of this kernel: a kprobe cannot attach to it, unless the loader picks another function at run time`,
      remediation: [
        `a kernel with function ${req.name} (functions are renamed and inlined between versions), or a loader that picks its target`,
      ],
    };
  }
  const up = verdict({ kind: 'feature', name: 'uprobe-attach' }, ctx.report);
  const status = best([kp.status, up.status]);
  const why =
    typeof fns === 'string'
      ? `whether ${req.name} is a kernel function is unknown (${fns})`
      : `${req.name} is not a function of this kernel`;
  const detail = `${why}: the loader attaches this kprobe-type program where it chooses at run time, a kprobe (${kp.status}${kp.detail ? `: ${kp.detail}` : ''}) or a uprobe (${up.status}${up.detail ? `: ${up.detail}` : ''})`;
  return { id, requirement: req, status, detail, remediation: status === 'supported' ? [] : [...kp.remediation, ...up.remediation] };
}

function licenseVerdict(req: Extract<Requirement, { kind: 'license' }>, ctx: Context): Verdict {
  const id = requirementId(req);
  const lic = req.license === '' ? 'no license section' : `license "${req.license}"`;
  const fix = [
    `a GPL-compatible license in the object's "license" section (GPL, GPL v2, Dual BSD/GPL, Dual MIT/GPL, Dual MPL/GPL, GPL and additional rights)`,
  ];
  if (req.what === 'kfunc') {
    // The verifier refuses every kfunc call from a program that is not GPL-compatible.
    return {
      id,
      requirement: req,
      status: 'unsupported',
      detail: `kfunc ${req.name} is callable from GPL-compatible programs only; the object has ${lic}`,
      remediation: fix,
    };
  }
  const r: ProbeResult & { value?: boolean } =
    ctx.opts.kernel?.gplOnly?.(req.name, req.progType) ?? probeError(undefined, 'not probed: no license probe was run');
  if (r.status !== 'supported')
    return {
      id,
      requirement: req,
      status: r.status,
      ...(r.errno ? { errno: r.errno } : {}),
      detail: r.detail ?? 'whether the helper is GPL-only is unknown',
      remediation: fix,
    };
  return r.value
    ? {
        id,
        requirement: req,
        status: 'unsupported',
        detail: `bpf_${req.name} is GPL-only (the verifier refuses it in a program with ${lic})`,
        remediation: fix,
      }
    : { id, requirement: req, status: 'supported', remediation: [] };
}

const BTF_KINDS = { func: BtfKind.FUNC, typedef: BtfKind.TYPEDEF, struct: BtfKind.STRUCT } as const;

function btfTypeVerdict(
  req: Extract<Requirement, { kind: 'btf-type' }>,
  lookup: () => { findId(kind: number, name: string): number | undefined } | null | undefined,
): Verdict {
  const id = requirementId(req);
  const btf = lookup();
  if (!btf) {
    return { id, requirement: req, status: 'error', detail: 'not probed: no vmlinux BTF to look the type up in', remediation: [] };
  }
  if (btf.findId(BTF_KINDS[req.btfKind], req.name) !== undefined) return { id, requirement: req, status: 'supported', remediation: [] };
  const what =
    req.btfKind === 'typedef' && req.name.startsWith('btf_trace_')
      ? `tracepoint ${req.name.slice('btf_trace_'.length)}`
      : req.btfKind === 'func' && req.name.startsWith('bpf_lsm_')
        ? `LSM hook ${req.name.slice('bpf_lsm_'.length)}`
        : `${req.btfKind} ${req.name}`;
  return {
    id,
    requirement: req,
    status: 'unsupported',
    detail: `${req.btfKind} ${req.name} is not in vmlinux BTF`,
    remediation: [`a kernel that has ${what} (the program's attach target; it differs between kernel versions and builds)`],
  };
}

function verdict(req: Requirement, report: ProbeReport): Verdict {
  const { result, remediation } = evaluate(req, report);
  const v: Verdict = { id: requirementId(req), requirement: req, status: result.status, remediation: [] };
  if (result.errno) v.errno = result.errno;
  if (result.detail) v.detail = result.detail;
  if (result.status !== 'supported') {
    v.remediation =
      result.status === 'error' && result.detail?.startsWith('not probed for this attach type') && req.kind === 'helper'
        ? [
            `a probe report with a helper row for ${req.progType}/${req.attachType} (helpers["${req.progType}/${req.attachType}"]); until the probe makes one, this helper's availability is unknown`,
          ]
        : result.status === 'error' && result.detail?.startsWith('not probed')
          ? [`run the probe that fills this fact (bpfready probe --json) with enough privilege; ${result.detail}`]
          : remediation(result);
  }
  return v;
}

type Remedy = (r: ProbeResult) => string[];
interface Evaluation {
  result: ProbeResult;
  remediation: Remedy;
}

const helperKeys = (h: string): string[] => [h, `bpf_${h}`, h.replace(/^bpf_/, '')];

/**
 * Helpers the kernel offers to some attach types of a program type only (kernel/trace/bpf_trace.c,
 * tracing_prog_func_proto): the base helper row, probed with one attach type, cannot speak for them.
 */
const ATTACH_ONLY_HELPERS: Readonly<Record<string, readonly string[]>> = {
  trace_iter: ['seq_printf', 'seq_write', 'seq_printf_btf'],
  trace_fentry: ['get_func_arg', 'get_func_arg_cnt'],
  trace_fexit: ['get_func_arg', 'get_func_ret', 'get_func_arg_cnt'],
  modify_return: ['get_func_arg', 'get_func_ret', 'get_func_arg_cnt'],
};

function evaluate(req: Requirement, report: ProbeReport): Evaluation {
  const cfg = currentConfig(report);
  const effective = report.context?.effective ?? [];
  switch (req.kind) {
    case 'program-type': {
      const result = req.attachType
        ? // report.ts documents "progtype/attachtype" keys; the engine also keys by attach type alone.
          fact(report, 'attachTypes', [`${req.progType}/${req.attachType}`, req.attachType])
        : fact(report, 'programTypes', [req.progType]);
      return {
        result,
        remediation: (r) =>
          r.status === 'not-permitted'
            ? capabilityAdvice('program', req.progType, effective)
            : configAdvice(PROG_TYPE_CONFIG[req.progType] ?? [], cfg).concat(req.progType === 'lsm' ? [lsmBootParam(report)] : []),
      };
    }
    case 'map-type':
      return {
        result: fact(report, 'mapTypes', [req.mapType]),
        remediation: (r) =>
          r.status === 'not-permitted'
            ? capabilityAdvice('map', req.mapType, effective)
            : withFallback(configAdvice(MAP_TYPE_CONFIG[req.mapType] ?? [], cfg), `a kernel that provides the ${req.mapType} map type`),
      };
    case 'helper': {
      // A row for this attach type ("tracing/trace_iter") when the probe made one, else the type's.
      const own = req.attachType ? report.helpers?.[`${req.progType}/${req.attachType}`] : undefined;
      const byType = own ?? report.helpers?.[req.progType];
      let result = byType ? fact({ ...report, h: byType }, 'h', helperKeys(req.helper)) : fact(report, 'helpers', [req.progType]);
      const name = req.helper.replace(/^bpf_/, '');
      if (!own && req.attachType && result.status === 'unsupported' && ATTACH_ONLY_HELPERS[req.attachType]?.includes(name)) {
        // The type's row was probed with another attach type, where the kernel does not offer this
        // helper: its "unsupported" says nothing about this program.
        result = probeError(
          undefined,
          `not probed for this attach type: bpf_${name} is offered to ${req.progType} programs of attach type ${req.attachType} only, and helpers["${req.progType}"] was probed with another attach type`,
        );
      }
      return {
        result,
        remediation: (r) =>
          r.status === 'not-permitted'
            ? capabilityAdvice('program', req.progType, effective)
            : [
                `a kernel whose ${req.progType} programs may call bpf_${req.helper.replace(/^bpf_/, '')} (helpers are per program type; lockdown=confidentiality also removes the probe_read_kernel family)`,
              ],
      };
    }
    case 'kfunc':
      return {
        result: fact(report, 'kfuncs', [req.name]),
        remediation: () => [
          `a kernel that exports kfunc ${req.name} to BPF (needs CONFIG_DEBUG_INFO_BTF=y; kfuncs in modules also need CONFIG_DEBUG_INFO_BTF_MODULES=y and the module loaded)`,
        ],
      };
    case 'btf-type':
    case 'core':
    case 'attach-target':
    case 'kprobe-target':
    case 'license':
    case 'section':
      // Decided in judge() against the kernel views; a report alone cannot tell.
      return { result: probeError(undefined, `not probed: ${req.kind} needs the kernel's BTF, symbols or tracefs`), remediation: () => [] };
    case 'mount':
      return {
        result: mountFact(report, req.path, req.fs, FS_MAGIC[req.fs]),
        remediation: () => [FS_MOUNT_COMMAND[req.fs]!(req.path)],
      };
    case 'capability': {
      if (!report.context)
        return { result: probeError(undefined, 'not probed: the report has no privilege context'), remediation: () => [] };
      const held =
        effective.includes(req.name) ||
        (['cap_bpf', 'cap_perfmon', 'cap_net_admin'].includes(req.name) && effective.includes('cap_sys_admin'));
      return {
        result: held ? { status: 'supported' } : { status: 'not-permitted', detail: `${req.name} is not in the effective set` },
        remediation: () => [grantCapability([req.name])],
      };
    }
    case 'kconfig': {
      const r = kconfig(report, req.name);
      if ('error' in r) return { result: r.error, remediation: () => [] };
      const ok = r.value !== undefined && (req.value === 'y/m' ? r.value === 'y' || r.value === 'm' : r.value === req.value);
      return {
        result: ok
          ? { status: 'supported' }
          : { status: 'unsupported', detail: `${req.name} is ${r.value === undefined ? 'not set' : `=${r.value}`}; want =${req.value}` },
        remediation: () => [`build the kernel with ${req.name}=${req.value === 'y/m' ? 'y (or m and load the module)' : req.value}`],
      };
    }
    case 'delegation':
      return delegation(req.delegate, report);
    case 'feature':
      return feature(req.name, report);
  }
}

function withFallback(advice: string[], fallback: string): string[] {
  return advice.length ? advice : [fallback];
}

function lsmBootParam(report: ProbeReport): string {
  const active = fact(report, 'security', ['lsm', 'lsms', 'active_lsms']);
  const list = Array.isArray(active.value)
    ? (active.value as string[]).filter((l) => l !== 'bpf')
    : typeof active.value === 'string'
      ? active.value.split(',').filter((l) => l && l !== 'bpf')
      : undefined;
  return list
    ? `add bpf to the active LSMs with the boot parameter lsm=${[...list, 'bpf'].join(',')}`
    : 'add bpf to the active LSMs with the boot parameter lsm=<current list>,bpf (see /sys/kernel/security/lsm)';
}

function delegation(want: Delegation, report: ProbeReport): Evaluation {
  const option = (k: keyof Delegation): string => `delegate_${k}=${want[k].join(':')}`;
  const mounts = bpffsMounts(report);
  const remedy =
    (missing: (keyof Delegation)[]): Remedy =>
    () => [
      `mount a bpffs that delegates them (the mount needs CAP_SYS_ADMIN in the initial user namespace and must be owned by the workload's user namespace): ${missing.map(option).join(',')}`,
    ];
  const all: (keyof Delegation)[] = ['cmds', 'maps', 'progs', 'attachs'];
  if (!mounts) return { result: probeError(undefined, 'not probed: the report has no "bpffs" section'), remediation: () => [] };
  let best: { missing: string[]; keys: (keyof Delegation)[] } | undefined;
  let firstMatch: Evaluation | undefined;
  for (const m of mounts) {
    const missing: string[] = [];
    const keys: (keyof Delegation)[] = [];
    for (const k of all) {
      const have = m.delegate?.[k] ?? [];
      const lack = have.includes('any') ? [] : want[k].filter((x) => !have.includes(x));
      if (lack.length) {
        keys.push(k);
        missing.push(...lack.map((x) => `${x} not in delegate_${k}`));
      }
    }
    if (!missing.length) {
      // Of the mounts that delegate enough, one that gives a token wins; else the first one says why not.
      const ev: Evaluation = {
        result: tokenFromMount(m, report),
        remediation: () => [`create the token from ${m.path} in the workload's user namespace, holding CAP_BPF there`],
      };
      if (ev.result.status === 'supported') return ev;
      firstMatch ??= ev;
      continue;
    }
    if (!best || missing.length < best.missing.length) best = { missing, keys };
  }
  if (firstMatch) return firstMatch;
  return {
    result: { status: 'unsupported', detail: best ? best.missing.join('; ') : 'no bpffs mount delegates anything' },
    remediation: remedy(best?.keys ?? all.filter((k) => want[k].length)),
  };
}

/**
 * Whether a workload can get a token from this bpffs. BPF_TOKEN_CREATE first requires the caller to
 * be in the user namespace that owns the bpffs (else EPERM), and then refuses the initial one
 * (EOPNOTSUPP). So EOPNOTSUPP, to us in the initial namespace, says the bpffs is owned by it: no
 * process anywhere gets a token from it, whatever it delegates. Tokens come from a bpffs created in
 * the workload's own user namespace (fsopen there, delegate_* set by a privileged parent).
 */
function tokenFromMount(m: { path: string; token: ProbeResult; delegate?: Partial<Delegation> }, report: ProbeReport): ProbeResult {
  if (m.token.errno !== 'EOPNOTSUPP') return m.token;
  const kernel = fact(report, 'misc', ['token_create']);
  if (kernel.status !== 'supported') return kernel;
  const delegated = Object.values(m.delegate ?? {}).some((v) => (v ?? []).length > 0);
  return delegated
    ? {
        status: 'unsupported',
        errno: 'EOPNOTSUPP',
        detail: `${m.path} delegates, but it is owned by the initial user namespace, where the kernel creates no tokens, and a process in any other namespace is refused (EPERM): mount the bpffs for the workload's user namespace`,
      }
    : { status: 'unsupported', detail: `${m.path} delegates nothing (no delegate_* mount option)` };
}

function feature(name: FeatureName, report: ProbeReport): Evaluation {
  const cfg = currentConfig(report);
  const config =
    (...opts: string[]): Remedy =>
    () =>
      configAdvice(opts, cfg);
  switch (name) {
    case 'bpf-syscall':
      return {
        result: fact(report, 'programTypes', ['socket_filter']),
        remediation: (r) =>
          r.status === 'not-permitted'
            ? [grantCapability(['cap_bpf'])]
            : ['build the kernel with CONFIG_BPF_SYSCALL=y; allow bpf(2) in the seccomp profile'],
      };
    case 'btf':
      return { result: fact(report, 'btf', ['vmlinux']), remediation: config('CONFIG_DEBUG_INFO_BTF') };
    case 'bpf-lsm': {
      const parts = [fact(report, 'security', ['bpf_lsm', 'bpf-lsm']), fact(report, 'programTypes', ['lsm'])];
      return {
        result: worst(parts),
        remediation: (r) =>
          r.status === 'not-permitted'
            ? capabilityAdvice('program', 'lsm', report.context?.effective ?? [])
            : [...configAdvice(['CONFIG_BPF_LSM'], cfg), lsmBootParam(report)],
      };
    }
    case 'kprobe-attach':
      return { result: fact(report, 'attach', ['kprobe']), remediation: config('CONFIG_KPROBES', 'CONFIG_KPROBE_EVENTS') };
    case 'kprobe-multi':
      return { result: fact(report, 'attach', ['kprobe_multi', 'kprobe-multi']), remediation: config('CONFIG_FPROBE') };
    case 'uprobe-attach':
      return { result: fact(report, 'attach', ['uprobe']), remediation: config('CONFIG_UPROBES', 'CONFIG_UPROBE_EVENTS') };
    case 'tracepoint-attach':
      return {
        result: fact(report, 'attach', ['tracepoint']),
        remediation: (r) => [
          ...configAdvice(['CONFIG_TRACEPOINTS', 'CONFIG_BPF_EVENTS'], cfg),
          ...(r.status === 'not-permitted' ? [grantCapability(['cap_perfmon'])] : []),
        ],
      };
    case 'fentry':
      return {
        result: worst([fact(report, 'attachTypes', ['tracing/trace_fentry', 'trace_fentry']), fact(report, 'attach', ['fentry'])]),
        remediation: (r) =>
          r.status === 'not-permitted'
            ? capabilityAdvice('program', 'tracing', report.context?.effective ?? [])
            : configAdvice(
                ['CONFIG_BPF_EVENTS', 'CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF', 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS'],
                cfg,
              ),
      };
    case 'sleepable':
      return {
        result: fact(report, 'misc', ['sleepable', 'sleepable_progs']),
        remediation: () => ['a kernel that accepts BPF_F_SLEEPABLE programs (sleepable fentry/lsm/iter; CONFIG_BPF_JIT=y)'],
      };
    case 'xdp-frags':
      return {
        result: fact(report, 'misc', ['xdp_frags']),
        remediation: () => ['a kernel that accepts BPF_F_XDP_HAS_FRAGS (multi-buffer XDP)'],
      };
    case 'ringbuf':
      return {
        result: fact(report, 'mapTypes', ['ringbuf']),
        remediation: () => ['a kernel with BPF_MAP_TYPE_RINGBUF (it has no config option of its own)'],
      };
    case 'bounded-loops':
      return {
        result: fact(report, 'misc', ['bounded_loops', 'bounded-loops']),
        remediation: (r) =>
          r.status === 'not-permitted' ? [grantCapability(['cap_bpf'])] : ['a kernel whose verifier accepts bounded loops'],
      };
    case 'isa-v2':
    case 'isa-v3':
    case 'isa-v4': {
      const v = Number(name.slice(-1));
      const lower = v === 2 ? 'v1' : `v${v - 1}`;
      return {
        result: fact(report, 'misc', [`v${v}_isa_extension`]),
        remediation: (r) =>
          r.status === 'not-permitted'
            ? [grantCapability(['cap_bpf'])]
            : [`a kernel whose verifier accepts ISA v${v} instructions, or the object built with clang -mcpu=${lower}`],
      };
    }
    case 'global-data':
      return {
        result: fact(report, 'misc', ['global_data', 'mmapable_array', 'array_mmap']),
        remediation: () => ['a kernel with BPF_F_MMAPABLE arrays and direct map-value loads (global data)'],
      };
    case 'jit':
      return {
        result: fact(report, 'sysctl', ['net.core.bpf_jit_enable']),
        remediation: () => ['sysctl -w net.core.bpf_jit_enable=1 (and CONFIG_BPF_JIT=y)'],
      };
    case 'bpffs':
      return { result: mountFact(report, '/sys/fs/bpf', 'bpf', FS_MAGIC.bpf), remediation: () => [FS_MOUNT_COMMAND.bpf!('/sys/fs/bpf')] };
    case 'tracefs': {
      // libbpf also finds tracefs under a debugfs at /sys/kernel/debug (the kernel automounts it there).
      const t = mountFact(report, '/sys/kernel/tracing', 'tracefs', FS_MAGIC.tracefs);
      const viaDebugfs = t.status === 'unsupported' ? mountFact(report, '/sys/kernel/debug', 'debugfs', FS_MAGIC.debugfs) : undefined;
      return {
        result: viaDebugfs?.status === 'supported' ? { status: 'supported', detail: 'tracefs under the debugfs at /sys/kernel/debug' } : t,
        remediation: () => [FS_MOUNT_COMMAND.tracefs!('/sys/kernel/tracing')],
      };
    }
    case 'token': {
      const mounts = bpffsMounts(report);
      if (!mounts) return { result: probeError(undefined, 'not probed: the report has no "bpffs" section'), remediation: () => [] };
      const results = mounts.map((m) => tokenFromMount(m, report));
      const ok = results.find((r) => r.status === 'supported');
      return {
        result: ok ?? (mounts.length ? worst(results) : { status: 'unsupported', detail: 'no bpffs mount' }),
        remediation: () => [
          "mount a bpffs with delegate_cmds/maps/progs/attachs for the workload's user namespace (kernel 6.9+ tokens), e.g. mount -t bpf -o delegate_cmds=map_create:prog_load bpf /sys/fs/bpf",
        ],
      };
    }
  }
}

/** CheckOptions.btf for the kernel under `hostRoot`: its vmlinux BTF, or undefined when unreadable. */
export function vmlinuxBtfFor(hostRoot: string): NonNullable<CheckOptions['btf']> {
  return () => {
    try {
      return loadVmlinuxBtf(hostRoot);
    } catch {
      return undefined;
    }
  };
}
