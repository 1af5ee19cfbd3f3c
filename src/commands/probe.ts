// `bpfready probe [--json] [--verbose] [--full] [--host-root DIR] [--workers N]`
// Prints what the running kernel can do for eBPF, for this process's privileges. The JSON document
// is a public interface (docs/json.md).
import { parseArgs } from 'node:util';
import { writeJson } from '../base/json-out.ts';
import { hostRootProblem, hostRootSetting } from '../kernel/hostroot.ts';
import { discardPrewarmedPool, prewarmHelperPool } from '../collect/helper-pool.ts';
import { loadShimPath } from '../collect/shim-path.ts';
import type { ProbeResult, ResultMap, Status } from '../contract/result.ts';
import type { ProbeReport } from '../contract/report.ts';

const HELP = `usage: bpfready probe [--json] [--kernel-view] [--verbose] [--tables-only] [--no-attach] [--full] [--host-root DIR] [--workers N]

Probe the running kernel through bpf(2) and print what eBPF can do here, for this process's
privileges. Results: supported, unsupported (the kernel lacks it), not-permitted (denied:
availability unknown) and error (the probe could not decide).

  --json          print the report as one JSON document (docs/json.md)
  --kernel-view   with --json: add the "kernelView" section (minimized BTF, function and tracepoint
                  names, kernel config, GPL-only helpers) so the report can be checked elsewhere:
                  bpfready check --elf FILE --against REPORT (docs/json.md)
  --verbose       list every entry in the text report, not only the ones that are not supported
  --tables-only   only the bpf() tables: program/map types, helpers, attach types, misc
  --no-attach     leave out the attach section (it creates and removes a cgroup and a netns)
  --full          also the probes that leave marks on the node (bpf_trace_printk, bpf_trace_vprintk:
                  the kernel turns its trace_printk event on; bpf_probe_write_user: a kernel log
                  warning); without it they are reported as not probed
  --host-root DIR read /proc, /sys, /boot and /lib/modules under DIR (in a DaemonSet: /host);
                  default: $BPFREADY_HOST_ROOT (the chart sets it), else /
  --workers N     worker threads for the helper matrix (default: CPUs - 1, at most 3), in place of
                  native-shim's forked loaders (used when native-shim/build/bpfready-shim is there)
`;

export async function run(argv: string[]): Promise<number> {
  // cli.ts may have started the helper threads before we parsed anything: whatever happens here
  // (a usage error, --help, a failed probe), threads nobody took must not keep the process alive.
  try {
    return await probeCommand(argv);
  } finally {
    await discardPrewarmedPool();
  }
}

async function probeCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        'host-root': { type: 'string' },
        workers: { type: 'string' },
        'tables-only': { type: 'boolean' },
        'no-attach': { type: 'boolean' },
        full: { type: 'boolean' },
        'kernel-view': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`bpfready probe: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = /^[0-9]+$/.test(values.workers) ? Number(values.workers) : NaN;
    if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
      process.stderr.write(`bpfready probe: --workers must be a whole number from 0 to 64, got "${values.workers}"\n`);
      return 2;
    }
  }
  if (values['kernel-view'] && !values.json) {
    process.stderr.write('bpfready probe: --kernel-view needs --json (it adds a section to the JSON document)\n');
    return 2;
  }
  const { hostRoot, source } = hostRootSetting(values['host-root'], process.env);
  const hostRootBad = hostRootProblem(hostRoot);
  if (hostRootBad) {
    process.stderr.write(`bpfready probe: ${source === '--host-root' ? '--host-root ' : `${source}=`}${hostRoot}: ${hostRootBad}\n`);
    return 2;
  }
  // The helper matrix's loads go through the native shim when it is there (docs/native-shim.md),
  // unless --workers asks for worker threads; token probes never use it.
  const loadShim = workers === undefined ? loadShimPath() : undefined;
  // Start the helper threads before the engine is even imported: they are ready when it needs them.
  if (!loadShim) prewarmHelperPool(workers);
  const { probe } = await import('../collect/index.ts');
  const report = await probe({
    hostRoot,
    ...(loadShim ? { loadShim } : {}),
    ...(workers !== undefined ? { workers } : {}),
    ...(values['tables-only'] ? { tablesOnly: true } : {}),
    ...(values['no-attach'] ? { skipAttach: true } : {}),
    ...(values.full ? { full: true } : {}),
  });
  if (values['kernel-view']) report.kernelView = (await import('../requirements/saved-view.ts')).collectKernelView(hostRoot, report);
  // The helper answers' garbage (verifier logs, rows built twice, promoted early by the small young
  // generation) is collected before the report is written: where the CPU is contended V8's
  // concurrent marking may not have run yet, and the peak would be that garbage plus the output.
  // bin/bpfready passes --expose-gc to the one-shot commands (docs/probes.md, "Memory").
  (globalThis as { gc?: () => void }).gc?.();
  // The JSON in pieces: the document is ~1.5 MB, and one string of it would be the probe's peak.
  if (values.json) writeJson(report, (s) => process.stdout.write(s));
  else process.stdout.write(renderText(report, Boolean(values.verbose)));
  return 0;
}

const MARK: Record<Status, string> = { supported: '+', unsupported: '-', 'not-permitted': '!', error: '?' };

function counts(map: ResultMap): string {
  const c: Record<string, number> = {};
  for (const r of Object.values(map)) c[r.status] = (c[r.status] ?? 0) + 1;
  return (['supported', 'unsupported', 'not-permitted', 'error'] as const)
    .filter((s) => c[s])
    .map((s) => `${c[s]} ${s}`)
    .join(', ');
}

function line(name: string, r: ProbeResult): string {
  const why = [r.errno, r.detail].filter(Boolean).join(': ');
  return `  ${MARK[r.status]} ${name}${why ? `  (${why})` : ''}`;
}

function section(title: string, map: ResultMap, verbose: boolean): string[] {
  const out = [`${title}: ${counts(map)}`];
  const entries = Object.entries(map);
  const shown = verbose ? entries : entries.filter(([, r]) => r.status !== 'supported');
  if (!verbose) {
    const ok = entries.filter(([, r]) => r.status === 'supported').map(([n]) => n);
    if (ok.length) out.push(`  + ${ok.join(' ')}`);
  }
  for (const [n, r] of shown) out.push(line(n, r));
  return out;
}

export function renderText(report: ProbeReport, verbose: boolean): string {
  const out: string[] = [];
  out.push(
    `bpfready probe: Linux ${report.kernel.release} (${report.kernel.machine}), uid ${report.context.euid}, ${report.durationMs} ms`,
  );
  out.push(`effective capabilities: ${report.context.effective.join(' ') || '(none)'}`);
  out.push(`legend: + supported  - unsupported  ! not permitted (availability unknown)  ? error`);
  out.push('');
  out.push(...section('program types', report.programTypes, verbose), '');
  out.push(...section('map types', report.mapTypes, verbose), '');
  out.push(...section('attach types (load)', report.attachTypes, verbose), '');
  out.push(...section('misc', report.misc, verbose), '');
  out.push('helpers per program type (supported/total):');
  for (const [pt, row] of Object.entries(report.helpers)) {
    const all = Object.values(row);
    const ok = all.filter((r) => r.status === 'supported').length;
    const np = all.filter((r) => r.status === 'not-permitted').length;
    const note = np ? `, ${np} not permitted` : all.every((r) => r.status !== 'supported') && all[0] ? ` (${all[0].status})` : '';
    out.push(`  ${pt.padEnd(24)} ${String(ok).padStart(3)}/${all.length}${note}`);
    if (verbose) for (const [h, r] of Object.entries(row)) out.push(`    ${line(h, r).trim()}`);
  }
  // System sections (config, btf, security, capabilities, ...) are FactSections: name → Fact.
  for (const [name, value] of Object.entries(report)) {
    if (['programTypes', 'mapTypes', 'helpers', 'attachTypes', 'misc', 'kernel', 'context'].includes(name)) continue;
    if (!isFactSection(value)) continue;
    out.push('', ...section(name, value, verbose));
  }
  return `${out.join('\n')}\n`;
}

function isFactSection(v: unknown): v is ResultMap {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const vals = Object.values(v as Record<string, unknown>);
  return vals.length > 0 && vals.every((x) => x !== null && typeof x === 'object' && 'status' in (x as object));
}
