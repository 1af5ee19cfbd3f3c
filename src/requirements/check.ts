// check(requirements, report): every requirement against what the probes observed on this node, each
// with its status in the result contract and, when unmet, what to change. Pure: the report is the
// only input, so the same report always gives the same verdicts.
import { loadVmlinuxBtf } from '../kernel/btf.ts';
import type { ProbeReport } from '../report.ts';
import { probeError, type ProbeResult } from '../probes/result.ts';
import { bpffsMounts, currentConfig, fact, kconfig, mountFact, worst } from './facts.ts';
import { FS_MAGIC, normalize, requirementId, type CheckResult, type Delegation, type FeatureName, type Requirement, type Verdict } from './model.ts';
import {
  capabilityAdvice,
  configAdvice,
  FS_MOUNT_COMMAND,
  grantCapability,
  MAP_TYPE_CONFIG,
  PROG_TYPE_CONFIG,
} from './remediation.ts';

export interface CheckOptions {
  /** vmlinux BTF, for btf-type requirements (loaded on first use); absent: those are not checked. */
  btf?: () => { findId(kind: number, name: string): number | undefined } | undefined;
}

export function check(requirements: readonly Requirement[], report: ProbeReport, opts: CheckOptions = {}): CheckResult {
  let btf: ReturnType<NonNullable<CheckOptions['btf']>> | null = null;
  const lookup = (): typeof btf => (btf === null ? (btf = opts.btf?.() ?? undefined) : btf);
  const results = normalize(requirements).map((r) => (r.kind === 'btf-type' ? btfTypeVerdict(r, lookup) : verdict(r, report)));
  const unmet = results.filter((v) => v.status !== 'supported');
  return { ok: unmet.length === 0, results, unmet };
}

const BTF_KINDS = { func: 12, typedef: 8, struct: 4 } as const;

function btfTypeVerdict(req: Extract<Requirement, { kind: 'btf-type' }>, lookup: () => { findId(kind: number, name: string): number | undefined } | null | undefined): Verdict {
  const id = requirementId(req);
  const btf = lookup();
  if (!btf) {
    return { id, requirement: req, status: 'error', detail: 'not probed: no vmlinux BTF to look the type up in', remediation: [] };
  }
  if (btf.findId(BTF_KINDS[req.btfKind], req.name) !== undefined) return { id, requirement: req, status: 'supported', remediation: [] };
  const what = req.btfKind === 'typedef' && req.name.startsWith('btf_trace_') ? `tracepoint ${req.name.slice('btf_trace_'.length)}`
    : req.btfKind === 'func' && req.name.startsWith('bpf_lsm_') ? `LSM hook ${req.name.slice('bpf_lsm_'.length)}`
    : `${req.btfKind} ${req.name}`;
  return {
    id, requirement: req, status: 'unsupported',
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
    v.remediation = result.status === 'error' && result.detail?.startsWith('not probed')
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

function evaluate(req: Requirement, report: ProbeReport): Evaluation {
  const cfg = currentConfig(report);
  const effective = report.context?.effective ?? [];
  switch (req.kind) {
    case 'program-type': {
      const result = req.attachType
        // report.ts documents "progtype/attachtype" keys; the engine also keys by attach type alone.
        ? fact(report, 'attachTypes', [`${req.progType}/${req.attachType}`, req.attachType])
        : fact(report, 'programTypes', [req.progType]);
      return {
        result,
        remediation: (r) => r.status === 'not-permitted'
          ? capabilityAdvice('program', req.progType, effective)
          : configAdvice(PROG_TYPE_CONFIG[req.progType] ?? [], cfg).concat(req.progType === 'lsm' ? [lsmBootParam(report)] : []),
      };
    }
    case 'map-type':
      return {
        result: fact(report, 'mapTypes', [req.mapType]),
        remediation: (r) => r.status === 'not-permitted'
          ? capabilityAdvice('map', req.mapType, effective)
          : withFallback(configAdvice(MAP_TYPE_CONFIG[req.mapType] ?? [], cfg), `a kernel that provides the ${req.mapType} map type`),
      };
    case 'helper': {
      const byType = report.helpers?.[req.progType];
      const result = byType ? fact({ ...report, h: byType }, 'h', helperKeys(req.helper)) : fact(report, 'helpers', [req.progType]);
      return {
        result,
        remediation: (r) => r.status === 'not-permitted'
          ? capabilityAdvice('program', req.progType, effective)
          : [`a kernel whose ${req.progType} programs may call bpf_${req.helper.replace(/^bpf_/, '')} (helpers are per program type; lockdown=confidentiality also removes the probe_read_kernel family)`],
      };
    }
    case 'kfunc':
      return {
        result: fact(report, 'kfuncs', [req.name]),
        remediation: () => [`a kernel that exports kfunc ${req.name} to BPF (needs CONFIG_DEBUG_INFO_BTF=y; kfuncs in modules also need CONFIG_DEBUG_INFO_BTF_MODULES=y and the module loaded)`],
      };
    case 'btf-type':
      // Decided against vmlinux BTF in check() (btfTypeVerdict); a report alone cannot tell.
      return { result: probeError(undefined, 'not probed: btf-type needs vmlinux BTF'), remediation: () => [] };
    case 'mount':
      return {
        result: mountFact(report, req.path, req.fs, FS_MAGIC[req.fs]),
        remediation: () => [FS_MOUNT_COMMAND[req.fs]!(req.path)],
      };
    case 'capability': {
      if (!report.context) return { result: probeError(undefined, 'not probed: the report has no privilege context'), remediation: () => [] };
      const held = effective.includes(req.name) || (['cap_bpf', 'cap_perfmon', 'cap_net_admin'].includes(req.name) && effective.includes('cap_sys_admin'));
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
        result: ok ? { status: 'supported' } : { status: 'unsupported', detail: `${req.name} is ${r.value === undefined ? 'not set' : `=${r.value}`}; want =${req.value}` },
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
  const list = Array.isArray(active.value) ? (active.value as string[]).filter((l) => l !== 'bpf') : typeof active.value === 'string' ? active.value.split(',').filter((l) => l && l !== 'bpf') : undefined;
  return list
    ? `add bpf to the active LSMs with the boot parameter lsm=${[...list, 'bpf'].join(',')}`
    : 'add bpf to the active LSMs with the boot parameter lsm=<current list>,bpf (see /sys/kernel/security/lsm)';
}

function delegation(want: Delegation, report: ProbeReport): Evaluation {
  const option = (k: keyof Delegation): string => `delegate_${k}=${want[k].join(':')}`;
  const mounts = bpffsMounts(report);
  const remedy = (missing: (keyof Delegation)[]): Remedy => () => [
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
      const ev: Evaluation = { result: tokenFromMount(m, report), remediation: () => [`create the token from ${m.path} in the workload's user namespace, holding CAP_BPF there`] };
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
    ? { status: 'unsupported', errno: 'EOPNOTSUPP', detail: `${m.path} delegates, but it is owned by the initial user namespace, where the kernel creates no tokens, and a process in any other namespace is refused (EPERM): mount the bpffs for the workload's user namespace` }
    : { status: 'unsupported', detail: `${m.path} delegates nothing (no delegate_* mount option)` };
}

function feature(name: FeatureName, report: ProbeReport): Evaluation {
  const cfg = currentConfig(report);
  const config = (...opts: string[]): Remedy => () => configAdvice(opts, cfg);
  switch (name) {
    case 'bpf-syscall':
      return { result: fact(report, 'programTypes', ['socket_filter']), remediation: (r) => r.status === 'not-permitted' ? [grantCapability(['cap_bpf'])] : ['build the kernel with CONFIG_BPF_SYSCALL=y; allow bpf(2) in the seccomp profile'] };
    case 'btf':
      return { result: fact(report, 'btf', ['vmlinux']), remediation: config('CONFIG_DEBUG_INFO_BTF') };
    case 'bpf-lsm': {
      const parts = [fact(report, 'security', ['bpf_lsm', 'bpf-lsm']), fact(report, 'programTypes', ['lsm'])];
      return {
        result: worst(parts),
        remediation: (r) => r.status === 'not-permitted'
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
      return { result: fact(report, 'attach', ['tracepoint']), remediation: (r) => [...configAdvice(['CONFIG_TRACEPOINTS', 'CONFIG_BPF_EVENTS'], cfg), ...(r.status === 'not-permitted' ? [grantCapability(['cap_perfmon'])] : [])] };
    case 'fentry':
      return {
        result: worst([fact(report, 'attachTypes', ['tracing/trace_fentry', 'trace_fentry']), fact(report, 'attach', ['fentry'])]),
        remediation: (r) => r.status === 'not-permitted'
          ? capabilityAdvice('program', 'tracing', report.context?.effective ?? [])
          : configAdvice(['CONFIG_BPF_EVENTS', 'CONFIG_BPF_JIT', 'CONFIG_DEBUG_INFO_BTF', 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS'], cfg),
      };
    case 'sleepable':
      return { result: fact(report, 'misc', ['sleepable', 'sleepable_progs']), remediation: () => ['a kernel that accepts BPF_F_SLEEPABLE programs (sleepable fentry/lsm/iter; CONFIG_BPF_JIT=y)'] };
    case 'xdp-frags':
      return { result: fact(report, 'misc', ['xdp_frags']), remediation: () => ['a kernel that accepts BPF_F_XDP_HAS_FRAGS (multi-buffer XDP)'] };
    case 'ringbuf':
      return { result: fact(report, 'mapTypes', ['ringbuf']), remediation: () => ['a kernel with BPF_MAP_TYPE_RINGBUF (it has no config option of its own)'] };
    case 'bounded-loops':
      return { result: fact(report, 'misc', ['bounded_loops', 'bounded-loops']), remediation: (r) => r.status === 'not-permitted' ? [grantCapability(['cap_bpf'])] : ['a kernel whose verifier accepts bounded loops'] };
    case 'global-data':
      return { result: fact(report, 'misc', ['global_data', 'mmapable_array', 'array_mmap']), remediation: () => ['a kernel with BPF_F_MMAPABLE arrays and direct map-value loads (global data)'] };
    case 'jit':
      return { result: fact(report, 'sysctl', ['net.core.bpf_jit_enable']), remediation: () => ['sysctl -w net.core.bpf_jit_enable=1 (and CONFIG_BPF_JIT=y)'] };
    case 'bpffs':
      return { result: mountFact(report, '/sys/fs/bpf', 'bpf', FS_MAGIC.bpf), remediation: () => [FS_MOUNT_COMMAND.bpf!('/sys/fs/bpf')] };
    case 'tracefs':
      return { result: mountFact(report, '/sys/kernel/tracing', 'tracefs', FS_MAGIC.tracefs), remediation: () => [FS_MOUNT_COMMAND.tracefs!('/sys/kernel/tracing')] };
    case 'token': {
      const mounts = bpffsMounts(report);
      if (!mounts) return { result: probeError(undefined, 'not probed: the report has no "bpffs" section'), remediation: () => [] };
      const results = mounts.map((m) => tokenFromMount(m, report));
      const ok = results.find((r) => r.status === 'supported');
      return {
        result: ok ?? (mounts.length ? worst(results) : { status: 'unsupported', detail: 'no bpffs mount' }),
        remediation: () => ['mount a bpffs with delegate_cmds/maps/progs/attachs for the workload\'s user namespace (kernel 6.9+ tokens), e.g. mount -t bpf -o delegate_cmds=map_create:prog_load bpf /sys/fs/bpf'],
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
