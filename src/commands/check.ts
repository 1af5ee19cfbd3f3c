// bpfready check [--elf FILE] [--profile NAME]... [--require ID]... [--json] [--advise] [--verify]
// Probes this node and checks the requirements of an eBPF object, named profiles and/or single
// requirements against it. Exit 0 when all hold, 1 when any does not, 2 for bad input or usage.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stderr, stdout } from 'node:process';
import { BpfreadyError, ParseError, UsageError } from '../errors.ts';
import { hostRootProblem, hostRootSetting } from '../host-root.ts';
import { parseBpfObject, type BpfObject } from '../kernel/elf-bpf.ts';
import { readSysctlInt } from '../kernel/sysctl.ts';
import type { ProbeReport } from '../report.ts';
import { check, vmlinuxBtfFor } from '../requirements/check.ts';
import { withKernelConfig } from '../requirements/enrich.ts';
import { requirementsFromObject } from '../requirements/from-elf.ts';
import type { CheckResult, Requirement } from '../requirements/model.ts';
import { adviseObject, verify, type PrivilegeAdvice, type Verification } from '../requirements/privilege.ts';
import { BUILTIN_PROFILES, parseRequirement } from '../requirements/profiles.ts';

const USAGE = `usage: bpfready check [--elf FILE] [--profile NAME]... [--require KIND:WHAT]... [--json]
                      [--advise] [--verify] [--host-root DIR]

  --elf FILE        derive requirements from an eBPF object (clang -target bpf output)
  --profile NAME    a built-in profile (${Object.keys(BUILTIN_PROFILES).join(', ')})
  --require ID      one requirement, e.g. map-type:ringbuf, feature:bpf-lsm, kconfig:CONFIG_BPF_LSM=y
  --advise          with --elf: the least capabilities and bpffs delegation the object needs
  --verify          with --elf: prove that advice by loading the object under exactly it (root)
  --json            one JSON document on stdout
exit status: 0 all requirements hold, 1 some do not, 2 bad input or usage
`;

interface Options {
  elf?: string;
  profiles: string[];
  require: string[];
  json: boolean;
  advise: boolean;
  verify: boolean;
  hostRoot: string;
}

function options(argv: string[]): Options | 'help' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        elf: { type: 'string' },
        profile: { type: 'string', multiple: true },
        require: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        advise: { type: 'boolean' },
        verify: { type: 'boolean' },
        'host-root': { type: 'string' },
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
    profiles: v.profile ?? [],
    require: v.require ?? [],
    json: v.json ?? false,
    advise: (v.advise ?? false) || (v.verify ?? false),
    verify: v.verify ?? false,
    hostRoot: '/',
  };
  const root = hostRootSetting(v['host-root'], process.env);
  o.hostRoot = root.hostRoot;
  const hostRoot = hostRootProblem(o.hostRoot);
  if (hostRoot) throw new UsageError(`${root.source === '--host-root' ? '--host-root ' : `${root.source}=`}${o.hostRoot}: ${hostRoot}`);
  if (v.elf !== undefined) o.elf = v.elf;
  if (!o.elf && !o.profiles.length && !o.require.length) throw new UsageError('nothing to check: give --elf, --profile or --require');
  if (o.advise && !o.elf) throw new UsageError('--advise and --verify need --elf');
  return o;
}

/** eBPF objects are kilobytes to a few MiB; a device, a FIFO or a huge file is not one. */
const MAX_OBJECT_BYTES = 256 << 20;

function readObjectFile(path: string): Buffer {
  const st = statSync(path);
  if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
  if (st.size > MAX_OBJECT_BYTES) throw Object.assign(new Error('too large'), { code: `larger than ${MAX_OBJECT_BYTES >> 20} MiB` });
  return readFileSync(path);
}

export interface CheckDocument extends CheckResult {
  kernel: ProbeReport['kernel'];
  context: ProbeReport['context'];
  sources: { elf?: string; profiles: string[]; require: string[] };
  object?: Omit<BpfObject, 'programs'> & { programs: Omit<BpfObject['programs'][number], 'insns' | 'relocs'>[] };
  leastPrivilege?: PrivilegeAdvice & { verification?: Verification };
}

export async function run(argv: string[]): Promise<number> {
  let o: Options | 'help';
  let reqs: Requirement[] = [];
  let obj: BpfObject | undefined;
  try {
    o = options(argv);
    if (o === 'help') {
      stdout.write(USAGE);
      return 0;
    }
    for (const p of o.profiles) {
      const prof = BUILTIN_PROFILES[p];
      if (!prof) throw new UsageError(`unknown profile "${p}" (built in: ${Object.keys(BUILTIN_PROFILES).join(', ')})`);
      reqs.push(...prof);
    }
    reqs.push(...o.require.map((r, i) => parseRequirement(r, '--require', `#${i + 1}`)));
    if (o.elf) {
      let bytes: Buffer;
      try {
        bytes = readObjectFile(o.elf);
      } catch (e) {
        throw new ParseError(o.elf, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      obj = parseBpfObject(bytes, o.elf);
      reqs.push(...requirementsFromObject(obj));
    }
  } catch (e) {
    if (e instanceof BpfreadyError) {
      stderr.write(`bpfready check: ${e.message}\n${e instanceof UsageError ? `\n${USAGE}` : ''}`);
      return 2;
    }
    throw e;
  }

  const { probe } = await import('../probes/index.ts');
  const report = withKernelConfig(await probe({ hostRoot: o.hostRoot }), reqs, o.hostRoot);
  const result = check(reqs, report, { btf: vmlinuxBtfFor(o.hostRoot) });
  const doc: CheckDocument = {
    ok: result.ok,
    kernel: report.kernel,
    context: report.context,
    sources: { ...(o.elf ? { elf: o.elf } : {}), profiles: o.profiles, require: o.require },
    results: result.results,
    unmet: result.unmet,
  };
  if (obj) {
    doc.object = { ...obj, programs: obj.programs.map(({ insns: _i, relocs: _r, ...rest }) => rest) };
    if (o.advise) {
      const sysctl = readSysctlInt(o.hostRoot, 'kernel.unprivileged_bpf_disabled');
      doc.leastPrivilege = adviseObject(obj, sysctl.ok ? sysctl.value : 2);
      if (o.verify && o.elf) doc.leastPrivilege.verification = await verify(o.elf, doc.leastPrivilege, { token: true });
    }
  }
  stdout.write(o.json ? `${JSON.stringify(doc, null, 2)}\n` : text(doc));
  return result.ok ? 0 : 1;
}

function text(d: CheckDocument): string {
  const out: string[] = [];
  const what = [d.sources.elf && `object ${d.sources.elf}`, ...d.sources.profiles.map((p) => `profile ${p}`), d.sources.require.length && `${d.sources.require.length} requirement(s)`].filter(Boolean);
  out.push(`bpfready check: ${what.join(', ')} on ${d.kernel.release}`);
  out.push(d.ok ? `all ${d.results.length} requirements hold` : `${d.unmet.length} of ${d.results.length} requirements unmet:`);
  for (const v of d.unmet) {
    out.push(`  ✗ ${v.id}: ${v.status}${v.errno ? ` (${v.errno})` : ''}${v.detail ? ` — ${v.detail}` : ''}`);
    for (const r of v.remediation) out.push(`      → ${r}`);
  }
  const lp = d.leastPrivilege;
  if (lp) {
    out.push('least privilege:');
    out.push(`  capabilities: ${lp.capabilities.join(', ') || 'none'}`);
    for (const [c, why] of Object.entries(lp.because)) out.push(`    ${c}: ${why.join('; ')}`);
    out.push(`  token: mount -t bpf -o ${lp.mountOptions} bpf <path>`);
    const v = lp.verification;
    if (v) {
      out.push(`  verified with exactly [${lp.capabilities.join(', ')}]: ${v.capabilities.exact.loaded ? 'loads' : `FAILS (${v.capabilities.exact.failures.join('; ')})`}; each one needed: ${v.capabilities.allNeeded ? 'yes' : 'no'}`);
      if (v.token) out.push(`  verified through a token with exactly that delegation: ${v.token.exact.loaded ? 'loads' : `FAILS (${v.token.exact.failures.join('; ')})`}; without the token: ${v.token.withoutToken.loaded ? 'loads' : 'fails'}; each item needed: ${v.token.allNeeded ? 'yes' : 'no'}${v.token.unproven.length ? ` (not exercised: ${v.token.unproven.join(', ')})` : ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}
