// One verdict per saved report (`check --against`, `bpfready nodes`): the same check() and
// checkObject() as on the node, over the report and its kernel view (saved-view.ts) instead of the
// running kernel. Pure: the report is the only input.
import type { ProbeReport } from '../contract/report.ts';
import { check, checkObject } from './check.ts';
import type { ObjectRequirements } from './from-elf.ts';
import type { CheckResult, GroupVerdict, ProgramVerdict, Requirement, Verdict } from './model.ts';
import type { Status } from '../contract/result.ts';
import { kernelViewOf, LACKS_VIEW, savedKernelOptions, withSavedConfig } from './saved-view.ts';

/** What the workload brings: its requirements and, when known, the capabilities it runs with. */
export interface Workload {
  requirements: Requirement[];
  object?: ObjectRequirements;
  programs?: string[];
  /** Effective capabilities the workload will hold (least privilege for its object, or --as). */
  capabilities?: string[];
}

export interface ReportVerdict extends CheckResult {
  /** The object's status with --elf; else the worst status of the unmet requirements. */
  status: Status;
  kernel: ProbeReport['kernel'];
  /** Which kernel build; absent when the report has no kernel view. */
  build?: string;
  kernelView: boolean;
  programs?: ProgramVerdict[];
  groups?: GroupVerdict[];
  /** The privilege context of the report, and how it differs from the workload's. */
  context: { euid: number; effective: string[]; initUserNamespace: boolean; differs: string[] };
}

// Requirements only a kernel view decides (check.ts judge()): without one, "unknown", never "met".
const VIEW_KINDS = new Set<Requirement['kind']>(['core', 'btf-type', 'attach-target', 'kprobe-target', 'license', 'kconfig']);

function lacking(v: Verdict): Verdict {
  if (v.status !== 'error' || !VIEW_KINDS.has(v.requirement.kind) || !v.detail?.startsWith('not probed')) return v;
  return {
    ...v,
    detail: LACKS_VIEW,
    remediation: ['probe the node again with bpfready probe --json --kernel-view (the daemon publishes it)'],
  };
}

export function privilegeDifference(report: ProbeReport, capabilities: readonly string[] | undefined): string[] {
  const ctx = report.context;
  const out: string[] = [];
  if (!ctx) return ['the report records no privilege context: permission-dependent results are of an unknown context'];
  if (ctx.initUserNamespace === false)
    out.push('probed in a child user namespace: bpf() honoured none of its capabilities without a token');
  if (!capabilities) return out;
  const has = new Set(ctx.effective);
  const workload = new Set(capabilities);
  const lacks = capabilities.filter((c) => !has.has(c));
  const extra = ctx.effective.filter(
    (c) => !workload.has(c) && ['cap_sys_admin', 'cap_bpf', 'cap_perfmon', 'cap_net_admin', 'cap_syslog'].includes(c),
  );
  if (lacks.length)
    out.push(
      `the report was probed without ${lacks.join(', ')}, which the workload holds: what those allow shows there as not permitted (availability unknown)`,
    );
  if (extra.length)
    out.push(
      `the report was probed with ${extra.join(', ')}, which the workload does not hold: the kernel features are the same, but loads that need those capabilities may be refused to the workload`,
    );
  return out;
}

export function evaluateReport(w: Workload, saved: ProbeReport): ReportVerdict {
  const all = [...w.requirements, ...(w.object ? [...w.object.object, ...w.object.programs.flatMap((p) => p.requirements)] : [])];
  const report = withSavedConfig(saved, all);
  const opts = savedKernelOptions(report);
  const view = kernelViewOf(report);
  let result: CheckResult & { status?: Status; programs?: ProgramVerdict[]; groups?: GroupVerdict[] };
  if (w.object) result = checkObject(w.object, w.requirements, report, opts, w.programs?.length ? w.programs : undefined);
  else result = check(w.requirements, report, opts);
  const results = result.results.map(lacking);
  const unmet = result.unmet.map(lacking);
  const worstOf = (ss: Status[]): Status => (['unsupported', 'error', 'not-permitted'] as const).find((s) => ss.includes(s)) ?? 'supported';
  const out: ReportVerdict = {
    ok: result.ok,
    status: result.status ?? worstOf(unmet.map((v) => v.status)),
    kernel: report.kernel,
    kernelView: typeof view === 'object',
    results,
    unmet,
    context: {
      euid: report.context?.euid ?? -1,
      effective: report.context?.effective ?? [],
      initUserNamespace: report.context?.initUserNamespace !== false,
      differs: privilegeDifference(report, w.capabilities),
    },
  };
  if (typeof view === 'object') out.build = view.build.digest;
  if (result.programs) out.programs = result.programs;
  if (result.groups) out.groups = result.groups;
  return out;
}
