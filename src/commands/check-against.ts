// `bpfready check … --against REPORT`: the verdicts for saved reports instead of this node
// (docs/cli.md, docs/json.md "check --against"). Reading the reports is all the I/O: nothing is probed.
import type { BpfObject } from '../kernel/elf-bpf.ts';
import type { ProbeReport } from '../contract/report.ts';
import { evaluateReport, type ReportVerdict } from '../requirements/against.ts';
import type { ObjectRequirements } from '../requirements/from-elf.ts';
import type { Requirement } from '../requirements/model.ts';
import { adviseObject } from '../requirements/privilege.ts';
import { loadReports, type SavedReport } from '../requirements/reports.ts';

export interface AgainstInput {
  against: string[];
  requirements: Requirement[];
  obj?: BpfObject;
  objReqs?: ObjectRequirements;
  programs: string[];
  sources: { elf?: string; programs?: string[]; profiles: string[]; require: string[] };
}

export interface AgainstDocument {
  ok: boolean;
  sources: AgainstInput['sources'];
  against: (ReportVerdict & { name: string; path: string })[];
}

/** Loads every report first, so bad input fails before any verdict is printed (ParseError). */
export function readAgainst(args: readonly string[]): SavedReport[] {
  return args.flatMap((a) => loadReports(a));
}

function unprivilegedBpfDisabled(report: ProbeReport): number {
  const v = (report.sysctl as Record<string, { value?: unknown }> | undefined)?.['kernel.unprivileged_bpf_disabled']?.value;
  return typeof v === 'number' ? v : 2;
}

export function againstDocument(input: AgainstInput, reports: readonly SavedReport[]): AgainstDocument {
  const loaded =
    input.obj && input.programs.length
      ? { ...input.obj, programs: input.obj.programs.filter((p) => input.programs.includes(p.name)) }
      : input.obj;
  const against = reports.map((s) => {
    // The workload's context: the least privilege its object needs under this node's sysctl.
    const capabilities = loaded ? adviseObject(loaded, unprivilegedBpfDisabled(s.report)).capabilities : undefined;
    const v = evaluateReport(
      {
        requirements: input.requirements,
        ...(input.objReqs ? { object: input.objReqs } : {}),
        programs: input.programs,
        ...(capabilities ? { capabilities } : {}),
      },
      s.report,
    );
    return { name: s.name, path: s.path, ...v };
  });
  return { ok: against.every((a) => a.ok), sources: input.sources, against };
}

export function againstText(d: AgainstDocument): string {
  const s = d.sources;
  const what = [
    s.elf && `object ${s.elf}`,
    ...s.profiles.map((p) => `profile ${p}`),
    s.require.length && `${s.require.length} requirement(s)`,
  ].filter(Boolean);
  const out = [`bpfready check: ${what.join(', ')} against ${d.against.length} report(s)`];
  for (const a of d.against) {
    const head = `${a.name} (${a.kernel.release}${a.kernelView ? '' : ', no kernel view'})`;
    out.push(
      a.ok
        ? `✓ ${head}: ready (${a.results.length} requirements hold)`
        : `✗ ${head}: ${a.unmet.length} of ${a.results.length} requirements unmet`,
    );
    for (const v of a.unmet) {
      out.push(`    ✗ ${v.id}: ${v.status}${v.errno ? ` (${v.errno})` : ''}${v.detail ? ` — ${v.detail}` : ''}`);
      for (const r of v.remediation) out.push(`        → ${r}`);
    }
    for (const n of a.context.differs) out.push(`    note: ${n}`);
  }
  return `${out.join('\n')}\n`;
}
