// The kernel view a saved report carries (`probe --json --kernel-view`, docs/json.md "kernelView"):
// what check() asks of a kernel beyond the probe tables — its BTF for CO-RE and attach targets, its
// function and tracepoint names, its config, and which helpers it treats as GPL-only — collected on
// the node, so that `check --against REPORT` and `bpfready nodes` judge an object for a node without
// reaching it. collectKernelView() reads the running kernel (the build's digest: build-digest.ts); savedKernelOptions() is check()'s
// KernelView over the saved section. A report without the section gives "unknown (report lacks
// kernel view)" for those requirements, never "met".
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { Btf, BtfKind, loadBtfFile, loadVmlinuxBtf } from '../kernel/btf.ts';
import { minimizeBtf } from '../kernel/btf-minimize.ts';
import { readKernelConfig } from '../kernel/kconfig.ts';
import { readMounts } from '../kernel/statfs-mounts.ts';
import { HELPER_NAMES } from '../native/uapi-names.ts';
import { probeError } from '../contract/result.ts';
import type { Fact, KernelViewSection, ProbeReport } from '../contract/report.ts';
import { runningBuildDigest, type KernelIdentity } from './build-digest.ts';
import { parseKallsymsFunctions, type CheckOptions } from './check.ts';
import { inPrivateTracefs, makeGplProbe } from './kernel-view.ts';
import type { Requirement } from './model.ts';

export const KERNEL_VIEW_VERSION = 1;
export const LACKS_VIEW = 'unknown (report lacks kernel view): probe the node with bpfready probe --json --kernel-view';

// Quality 5 (measured on 6.18: docs/daemon.md, "Memory after the first publish"): vmlinux's minimized
// BTF (2.7 MB) packs to 1 % more bytes than at quality 9 in a third of the time (0.1 s), the function
// list (3 MB) to 14 % more, and the match finder's tables take ~20 MiB instead of ~44 MiB at the
// collector's peak (quality 11 takes 12 s for 12 % fewer bytes than 9).
const pack = (b: Buffer | string): string =>
  brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 24 } }).toString('base64');
const unpack = (s: string): Buffer => brotliDecompressSync(Buffer.from(s, 'base64'));
const packList = (names: Iterable<string>): string => pack([...new Set(names)].sort().join('\n'));
const unpackList = (s: string): string[] => {
  const t = unpack(s).toString('utf8');
  return t ? t.split('\n') : [];
};

/** Every tracefs event ("category/name") of the running kernel, or why unknown. */
export function listTracepoints(hostRoot: string): string[] | string {
  const mounted = readMounts(hostRoot).byFs.tracefs[0]?.path;
  const list = (events: string): string[] =>
    readdirSync(events, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((c) =>
        readdirSync(join(events, c.name), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => `${c.name}/${e.name}`),
      );
  if (mounted && hostRoot === '/' && existsSync(join(mounted, 'events'))) return list(join(mounted, 'events'));
  const found = inPrivateTracefs('for c in */; do for e in "$c"*/; do echo "${e%/}"; done; done', [], 20_000);
  return typeof found === 'string' ? found : found.filter((l) => /^[\w.-]+\/[\w.-]+$/.test(l));
}

/** The kernel view of the kernel under `hostRoot` (docs/json.md "kernelView"); parts that cannot be read say why. */
export function collectKernelView(hostRoot: string, report: KernelIdentity): KernelViewSection {
  const problems: Record<string, string> = {};
  const why = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  const view: KernelViewSection = {
    version: KERNEL_VIEW_VERSION,
    build: { release: report.kernel.release, version: report.kernel.version, machine: report.kernel.machine, digest: '' },
    encoding: 'brotli+base64',
    helpers: { gplOnly: [], notGplOnly: [], unknown: {} },
  };
  // The digest hashed in pieces (the daemon's own, build-digest.ts), not from a copy of the file.
  view.build.digest = runningBuildDigest(hostRoot, report);
  let vmlinux: Btf | undefined;
  try {
    vmlinux = loadVmlinuxBtf(hostRoot);
  } catch (e) {
    problems.btf = `vmlinux BTF is unreadable (${why(e)})`;
  }
  const btfFuncs = new Set<string>();
  if (vmlinux) {
    const modules: Btf[] = [];
    const dir = join(hostRoot, 'sys/kernel/btf');
    for (const n of readdirSync(dir)
      .filter((x) => x !== 'vmlinux')
      .sort()) {
      try {
        modules.push(loadBtfFile(join(dir, n), vmlinux));
        view.modules = [...(view.modules ?? []), n];
      } catch {
        // A module BTF that does not parse is left out, as check() leaves it out on the node.
      }
    }
    for (const b of [vmlinux, ...modules])
      for (let id = b.firstId; id <= b.typeCount; id++) if (b.kind(id) === BtfKind.FUNC) btfFuncs.add(b.name(id));
    const min = minimizeBtf(vmlinux, modules);
    view.btf = pack(min.vmlinux);
    if (min.modules) view.moduleBtf = pack(min.modules);
  }
  let kallsyms: Set<string> = new Set();
  try {
    kallsyms = parseKallsymsFunctions(readFileSync(join(hostRoot, 'proc/kallsyms'), 'latin1'));
  } catch (e) {
    problems.functions = `/proc/kallsyms is unreadable (${why(e)})`;
  }
  // kallsyms shows zero addresses without CAP_SYSLOG, but the names are all there.
  if (kallsyms.size || btfFuncs.size) {
    const names = [...new Set([...kallsyms, ...btfFuncs])].sort();
    view.functions = pack(names.join('\n'));
    const bits = Buffer.alloc(Math.ceil(names.length / 8));
    names.forEach((n, i) => {
      if (btfFuncs.has(n)) bits[i >> 3]! |= 1 << (i & 7);
    });
    view.btfFunctions = pack(bits);
  }
  const tps = listTracepoints(hostRoot);
  if (typeof tps === 'string') problems.tracepoints = tps;
  else view.tracepoints = packList(tps);
  const cfg = readKernelConfig(hostRoot, report.kernel.release);
  if (cfg.ok) {
    view.kconfig = packList([...cfg.config.values].filter(([, v]) => v !== 'n').map(([k, v]) => `${k.replace(/^CONFIG_/, '')}=${v}`));
    view.kconfigSource = cfg.config.source;
  } else problems.kconfig = `no kernel config found (${cfg.tried.map((t) => `${t.path}: ${t.code}`).join(', ')})`;
  const gpl = makeGplProbe();
  for (const h of HELPER_NAMES.slice(1)) {
    if (!h) continue;
    const r = gpl(h, undefined);
    if (r.status === 'supported') (r.value ? view.helpers.gplOnly : view.helpers.notGplOnly).push(h);
    else view.helpers.unknown[h] = `${r.status}${r.errno ? ` ${r.errno}` : ''}: ${r.detail ?? ''}`;
  }
  if (Object.keys(problems).length) view.problems = problems;
  return view;
}

/** A report's kernel view, checked for a version this build reads; a string says what is wrong. */
export function kernelViewOf(report: ProbeReport): KernelViewSection | undefined | string {
  const v = report.kernelView as KernelViewSection | undefined;
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) return 'kernelView is not an object';
  if (v.version !== KERNEL_VIEW_VERSION)
    return `kernelView version ${JSON.stringify(v.version)} is not one this bpfready reads (it reads ${KERNEL_VIEW_VERSION})`;
  if (v.encoding !== 'brotli+base64') return `kernelView encoding ${JSON.stringify(v.encoding)} is unknown`;
  return v;
}

/** A view of btf whose FUNCs are the names flagged in the function list (btf-minimize.ts keeps none). */
function withFunctions(btf: Btf, funcs: ReadonlySet<string>): { findId(kind: number, name: string): number | undefined } {
  return { findId: (kind, name) => (kind === BtfKind.FUNC ? (funcs.has(name) ? 0x7fffffff : undefined) : btf.findId(kind, name)) };
}

/**
 * check()'s options for a saved report: its kernel view when it has one, else an answer of
 * "unknown (report lacks kernel view)" for everything that needs one.
 */
export function savedKernelOptions(report: ProbeReport): CheckOptions {
  const v = kernelViewOf(report);
  if (typeof v !== 'object') {
    const lacks = typeof v === 'string' ? `unknown (${v})` : LACKS_VIEW;
    return {
      btf: () => undefined,
      kernel: {
        coreBtf: () => `not probed: ${lacks}`,
        functions: () => `not probed: ${lacks}`,
        tracepoints: () => `not probed: ${lacks}`,
        gplOnly: () => probeError(undefined, `not probed: ${lacks}`),
      },
    };
  }
  const once = <T>(f: () => T): (() => T) => {
    let cached: { v: T } | undefined;
    return () => (cached ??= { v: f() }).v;
  };
  const missing = (part: string): string =>
    `not probed: the report's kernel view has no ${part}${v.problems?.[part] ? ` (${v.problems[part]})` : ''}`;
  const fns = once(() => (v.functions ? unpackList(v.functions) : undefined));
  const btfFuncs = once((): Set<string> => {
    const names = fns() ?? [];
    const bits = v.btfFunctions ? unpack(v.btfFunctions) : Buffer.alloc(0);
    return new Set(names.filter((_, i) => ((bits[i >> 3] ?? 0) >> (i & 7)) & 1));
  });
  const core = once(() => {
    if (!v.btf) return undefined;
    const vmlinux = Btf.parse(unpack(v.btf), { input: 'kernelView.btf' });
    const modules = v.moduleBtf ? [Btf.parse(unpack(v.moduleBtf), { input: 'kernelView.moduleBtf', base: vmlinux })] : [];
    return { vmlinux, modules };
  });
  const tps = once(() => (v.tracepoints ? new Set(unpackList(v.tracepoints)) : undefined));
  const gplOnly = new Set(v.helpers.gplOnly);
  const notGplOnly = new Set(v.helpers.notGplOnly);
  return {
    btf: () => {
      const k = core();
      return k ? withFunctions(k.vmlinux, btfFuncs()) : undefined;
    },
    kernel: {
      coreBtf: () => core() ?? missing('btf'),
      functions: () => {
        const f = fns();
        return f ? new Set(f) : missing('functions');
      },
      tracepoints: (names) => {
        const all = tps();
        return all ? new Set(names.filter((n) => all.has(n))) : missing('tracepoints');
      },
      gplOnly: (helper) => {
        const h = helper.replace(/^bpf_/, '');
        if (gplOnly.has(h)) return { status: 'supported', value: true, detail: 'GPL-only on the node (kernel view)' };
        if (notGplOnly.has(h)) return { status: 'supported', value: false };
        return probeError(
          undefined,
          `not probed: the node's kernel view does not say whether bpf_${h} is GPL-only${v.helpers.unknown[h] ? ` (${v.helpers.unknown[h]})` : ''}`,
        );
      },
    },
  };
}

/**
 * withKernelConfig() for a saved report: the options the requirements name, from the kernel view's
 * config. Without one, the report's own (BPF-related) config section is all there is.
 */
export function withSavedConfig(report: ProbeReport, reqs: readonly Requirement[]): ProbeReport {
  const v = kernelViewOf(report);
  if (typeof v !== 'object' || !v.kconfig) return report;
  const names = reqs.filter((r) => r.kind === 'kconfig').map((r) => r.name.replace(/^CONFIG_/, ''));
  const section = (typeof report.config === 'object' && report.config !== null ? report.config : {}) as Record<string, Fact>;
  const missing = names.filter((n) => !(n in section) && !(`CONFIG_${n}` in section));
  if (!missing.length) return report;
  const values = new Map(unpackList(v.kconfig).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const added: Record<string, Fact> = {};
  for (const n of missing) {
    const val = values.get(n);
    added[n] =
      val === undefined
        ? { status: 'unsupported', detail: `CONFIG_${n} is not set (${v.kconfigSource ?? "the node's kernel config"})`, value: null }
        : { status: 'supported', value: val };
  }
  return { ...report, config: { source: { status: 'supported', value: v.kconfigSource ?? 'kernelView' }, ...section, ...added } };
}
