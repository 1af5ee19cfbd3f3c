// bpfready check [--elf FILE [--program NAME]...] [--profile NAME]... [--require ID]... [--json] [--advise] [--verify]
//                [--against REPORT]... [--emit KIND]
// Probes this node (or reads saved reports, --against) and checks the requirements of an eBPF object, named profiles and/or single
// requirements against it. Exit 0 when all hold, 1 when any does not, 2 for bad input or usage.
import { parseArgs } from 'node:util';
import { stderr, stdout } from 'node:process';
import { BpfreadyError, UsageError } from '../base/errors.ts';
import { hostRootProblem, hostRootSetting } from '../kernel/hostroot.ts';
import type { BpfObject } from '../kernel/elf-bpf.ts';
import { readSysctlInt } from '../kernel/sysctl.ts';
import type { ProbeReport } from '../contract/report.ts';
import { check, checkObject, hostKernelOptions } from '../requirements/check.ts';
import { withKernelConfig } from '../requirements/enrich.ts';
import type { ObjectRequirements } from '../requirements/from-elf.ts';
import { makeGplProbe, tracepointsPresent } from '../requirements/kernel-view.ts';
import type { CheckResult, GroupVerdict, ProgramVerdict, Requirement } from '../requirements/model.ts';
import type { Status } from '../contract/result.ts';
import { adviseObject, verify, type PrivilegeAdvice, type Verification } from '../requirements/privilege.ts';
import { BUILTIN_PROFILES } from '../requirements/profiles.ts';
import { namedReports, type SavedReport } from '../requirements/reports.ts';
import { againstDocument, againstText, readAgainst } from './check-against.ts';
import { checkSelectionFlags, readSelection, SELECTION_OPTIONS } from './selection.ts';

const EMIT_KINDS = ['profile', 'node-affinity', 'node-feature-rule', 'node-readiness-rule'] as const;
type EmitKind = (typeof EMIT_KINDS)[number];
const NAMED =
  namedReports()
    .map((n) => n.name)
    .join(', ') || 'none shipped';

const USAGE = `usage: bpfready check [--elf FILE [--program NAME]...] [--profile NAME]... [--require KIND:WHAT]...
                      [--json] [--advise] [--verify] [--host-root DIR]
                      [--against REPORT]... [--emit profile|node-affinity|node-feature-rule|node-readiness-rule]

  --elf FILE        derive requirements from an eBPF object (clang -target bpf output)
  --program NAME    with --elf: the workload loads this program (repeatable); default: every program,
                    alternatives (fentry or kprobe, tp_btf or raw_tp of one hook) counted once
  --profile NAME    a built-in profile (${Object.keys(BUILTIN_PROFILES).join(', ')})
  --require ID      one requirement, e.g. map-type:ringbuf, feature:bpf-lsm, kconfig:CONFIG_BPF_LSM=y
  --advise          with --elf: the least capabilities and bpffs delegation the object needs
  --verify          with --elf: prove that advice by loading the object under exactly it (root)
  --against REPORT  check saved reports instead of this node (repeatable): a file of bpfready probe --json
                    (gzip too), a directory of them, or a named report (${NAMED}); one verdict each
  --emit KIND       print YAML to paste instead of checking: a profile entry for the chart's values, a
                    pod nodeAffinity on its label, an NFD NodeFeatureRule or a NodeReadinessRule
  --name NAME       with --emit: the profile's name (default: from the object's file name)
  --json            one JSON document on stdout
exit status: 0 all requirements hold, 1 some do not, 2 bad input or usage
`;

interface Options {
  elf?: string;
  programs: string[];
  profiles: string[];
  require: string[];
  json: boolean;
  advise: boolean;
  verify: boolean;
  hostRoot: string;
  against: string[];
  emit?: string;
  name?: string;
}

function options(argv: string[]): Options | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        ...SELECTION_OPTIONS,
        json: { type: 'boolean' },
        advise: { type: 'boolean' },
        verify: { type: 'boolean' },
        'host-root': { type: 'string' },
        against: { type: 'string', multiple: true },
        emit: { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (v.help) return 'help';
  const o: Options = {
    programs: v.program ?? [],
    profiles: v.profile ?? [],
    require: v.require ?? [],
    json: v.json ?? false,
    advise: (v.advise ?? false) || (v.verify ?? false),
    verify: v.verify ?? false,
    hostRoot: '/',
    against: v.against ?? [],
  };
  if (v.emit !== undefined) {
    if (!(EMIT_KINDS as readonly string[]).includes(v.emit)) throw new UsageError(`--emit ${v.emit}: not one of ${EMIT_KINDS.join(', ')}`);
    o.emit = v.emit;
  }
  if (v.name !== undefined) o.name = v.name;
  if (o.name !== undefined && !o.emit) throw new UsageError('--name needs --emit');
  if (o.emit && o.against.length) throw new UsageError('--emit and --against do not go together: --emit prints YAML, --against checks');
  const root = hostRootSetting(v['host-root'], process.env);
  o.hostRoot = root.hostRoot;
  const hostRoot = hostRootProblem(o.hostRoot);
  if (hostRoot) throw new UsageError(`${root.source === '--host-root' ? '--host-root ' : `${root.source}=`}${o.hostRoot}: ${hostRoot}`);
  if (v.elf !== undefined) o.elf = v.elf;
  checkSelectionFlags(v);
  if (o.verify && o.against.length) throw new UsageError('--verify loads the object on this node: it does not go with --against');
  if (o.advise && !o.elf) throw new UsageError('--advise and --verify need --elf');
  return o;
}

export interface CheckDocument extends CheckResult {
  kernel: ProbeReport['kernel'];
  context: ProbeReport['context'];
  sources: { elf?: string; programs?: string[]; profiles: string[]; require: string[] };
  object?: Omit<BpfObject, 'programs'> & { programs: Omit<BpfObject['programs'][number], 'insns' | 'relocs' | 'linked' | 'core'>[] };
  /** With --elf: the object's verdict, one per program, and the groups of alternatives. */
  status?: Status;
  programs?: ProgramVerdict[];
  groups?: GroupVerdict[];
  leastPrivilege?: PrivilegeAdvice & { verification?: Verification };
}

export async function run(argv: string[]): Promise<number> {
  let o: Options | 'help';
  let reqs: Requirement[] = [];
  let obj: BpfObject | undefined;
  let objReqs: ObjectRequirements | undefined;
  let saved: SavedReport[] = [];
  try {
    o = options(argv);
    if (o === 'help') {
      stdout.write(USAGE);
      return 0;
    }
    const sel = readSelection({ elf: o.elf, program: o.programs, profile: o.profiles, require: o.require });
    reqs = sel.requirements;
    obj = sel.obj;
    objReqs = sel.objReqs;
    saved = readAgainst(o.against);
  } catch (e) {
    if (e instanceof BpfreadyError) {
      stderr.write(`bpfready check: ${e.message}\n${e instanceof UsageError ? `\n${USAGE}` : ''}`);
      return 2;
    }
    throw e;
  }
  const sources = {
    ...(o.elf ? { elf: o.elf } : {}),
    ...(o.programs.length ? { programs: o.programs } : {}),
    profiles: o.profiles,
    require: o.require,
  };
  if (o.emit) {
    // Loaded only here: the publish layer brings the Kubernetes client with it.
    const { emitYaml } = await import('../publish/emit.ts');
    stdout.write(
      emitYaml(o.emit as EmitKind, {
        requirements: reqs,
        ...(objReqs ? { object: objReqs } : {}),
        programs: o.programs,
        ...(o.name ? { name: o.name } : {}),
        sources,
      }),
    );
    return 0;
  }
  if (saved.length) {
    const d = againstDocument(
      { against: o.against, requirements: reqs, ...(obj ? { obj } : {}), ...(objReqs ? { objReqs } : {}), programs: o.programs, sources },
      saved,
    );
    stdout.write(o.json ? `${JSON.stringify(d, null, 2)}\n` : againstText(d));
    return d.ok ? 0 : 1;
  }

  const { probe } = await import('../collect/index.ts');
  const { SIDE_EFFECT_HELPERS } = await import('../probes/marks.ts');
  const all = objReqs ? [...reqs, ...objReqs.object, ...objReqs.programs.flatMap((p) => p.requirements)] : reqs;
  // A requirement on a helper the default probe leaves alone for the marks it makes (docs/probes.md):
  // the user asks about that very helper, so this check probes it, as `probe --full` would.
  const full = all.some((r) => r.kind === 'helper' && Object.hasOwn(SIDE_EFFECT_HELPERS, r.helper.replace(/^bpf_/, '')));
  const report = withKernelConfig(await probe({ hostRoot: o.hostRoot, ...(full ? { full } : {}) }), all, o.hostRoot);
  const hostRoot = o.hostRoot;
  const opts = hostKernelOptions(hostRoot, { tracepoints: (names) => tracepointsPresent(hostRoot, names), gplOnly: makeGplProbe() });
  const objectResult = objReqs ? checkObject(objReqs, reqs, report, opts, o.programs.length ? o.programs : undefined) : undefined;
  const result: CheckResult = objectResult ?? check(reqs, report, opts);
  const doc: CheckDocument = {
    ok: result.ok,
    kernel: report.kernel,
    context: report.context,
    sources,
    results: result.results,
    unmet: result.unmet,
  };
  if (objectResult) {
    doc.status = objectResult.status;
    doc.programs = objectResult.programs;
    doc.groups = objectResult.groups;
  }
  if (obj) {
    doc.object = { ...obj, programs: obj.programs.map(({ insns: _i, relocs: _r, linked: _l, core: _c, ...rest }) => rest) };
    if (o.advise) {
      const sysctl = readSysctlInt(o.hostRoot, 'kernel.unprivileged_bpf_disabled');
      // With --program, the advice is for what the workload loads.
      const loaded = o.programs.length ? { ...obj, programs: obj.programs.filter((p) => o.programs.includes(p.name)) } : obj;
      doc.leastPrivilege = adviseObject(loaded, sysctl.ok ? sysctl.value : 2);
      if (o.verify && o.elf) doc.leastPrivilege.verification = await verify(o.elf, doc.leastPrivilege, { token: true });
    }
  }
  stdout.write(o.json ? `${JSON.stringify(doc, null, 2)}\n` : text(doc));
  return result.ok ? 0 : 1;
}

function text(d: CheckDocument): string {
  const out: string[] = [];
  const what = [
    d.sources.elf && `object ${d.sources.elf}`,
    ...d.sources.profiles.map((p) => `profile ${p}`),
    d.sources.require.length && `${d.sources.require.length} requirement(s)`,
  ].filter(Boolean);
  out.push(`bpfready check: ${what.join(', ')} on ${d.kernel.release}`);
  const unchosen = d.results.filter((v) => v.status !== 'supported').length;
  out.push(
    d.ok
      ? `all requirements hold (${d.results.length} checked${unchosen ? `; ${unchosen} not met only by alternatives another one replaces` : ''})`
      : `${d.unmet.length} of ${d.results.length} requirements unmet:`,
  );
  for (const v of d.unmet) {
    out.push(`  ✗ ${v.id}: ${v.status}${v.errno ? ` (${v.errno})` : ''}${v.detail ? ` — ${v.detail}` : ''}`);
    for (const r of v.remediation) out.push(`      → ${r}`);
  }
  if (d.programs?.length) {
    out.push(`programs (object: ${d.status}):`);
    for (const p of d.programs) {
      const mark = p.status === 'supported' ? '✓' : '✗';
      out.push(
        `  ${mark} ${p.name} (${p.section})${p.loaded ? '' : ' [not loaded]'}${p.group ? ` [alternative in ${p.group}]` : ''}: ${p.status}${p.unmet.length ? ` — ${p.unmet.join(', ')}` : ''}`,
      );
    }
    for (const g of d.groups ?? []) {
      out.push(`  any of ${g.id}: ${g.status} (${g.alternatives.map((a) => `${a.programs.join('+')}: ${a.status}`).join('; ')})`);
    }
  }
  const lp = d.leastPrivilege;
  if (lp) {
    out.push('least privilege:');
    out.push(`  capabilities: ${lp.capabilities.join(', ') || 'none'}`);
    for (const [c, why] of Object.entries(lp.because)) out.push(`    ${c}: ${why.join('; ')}`);
    out.push(`  token: mount -t bpf -o ${lp.mountOptions} bpf <path>`);
    const v = lp.verification;
    if (v) {
      out.push(
        `  verified with exactly [${lp.capabilities.join(', ')}]: ${v.capabilities.exact.loaded ? 'loads' : `FAILS (${v.capabilities.exact.failures.join('; ')})`}; each one needed: ${v.capabilities.allNeeded ? 'yes' : 'no'}`,
      );
      if (v.token)
        out.push(
          `  verified through a token with exactly that delegation: ${v.token.exact.loaded ? 'loads' : `FAILS (${v.token.exact.failures.join('; ')})`}; without the token: ${v.token.withoutToken.loaded ? 'loads' : 'fails'}; each item needed: ${v.token.allNeeded ? 'yes' : 'no'}${v.token.unproven.length ? ` (not exercised: ${v.token.unproven.join(', ')})` : ''}`,
        );
    }
  }
  return `${out.join('\n')}\n`;
}
