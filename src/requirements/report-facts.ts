// Reading the facts a requirement depends on out of a ProbeReport. Sections other than the probe
// engine's own are filled by other collectors; a section that is absent or holds no entry for what we
// need is `error: not probed` — never satisfied, because "we did not look" is not "it is there".
// The keys read here are listed in docs/requirements.md.
import type { BpffsMount, Fact, ProbeReport } from '../contract/report.ts';
import { probeError, STATUSES, type ProbeResult, type Status } from '../contract/result.ts';

function isResult(v: unknown): v is Fact {
  return typeof v === 'object' && v !== null && STATUSES.includes((v as { status?: unknown }).status as Status);
}

export function notProbed(what: string): ProbeResult {
  return probeError(undefined, `not probed: ${what}`);
}

/** An entry of a keyed section (the first of `keys` present), or `error: not probed`. */
export function fact(report: ProbeReport, section: string, keys: readonly string[]): Fact {
  const s = report[section];
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return notProbed(`the report has no "${section}" section`);
  for (const k of keys) {
    const v = (s as Record<string, unknown>)[k];
    if (isResult(v)) return v;
  }
  return notProbed(`"${section}" has no entry ${keys.map((k) => `"${k}"`).join(' or ')}`);
}

export function bpffsMounts(report: ProbeReport): BpffsMount[] | undefined {
  const b = report.bpffs;
  return Array.isArray(b) ? (b as BpffsMount[]) : undefined;
}

/** Kernel config value ('y', 'm', a string) or undefined when unset; `error` when no config was read. */
export function kconfig(report: ProbeReport, name: string): { value: string | undefined } | { error: ProbeResult } {
  const s = report.config;
  if (typeof s !== 'object' || s === null) return { error: notProbed('the report has no "config" section') };
  const section = s as Record<string, unknown>;
  // A config that could not be read is marked by a non-supported entry under "source".
  const source = section.source ?? section._source;
  if (isResult(source) && source.status !== 'supported') return { error: source };
  // The system-facts collector keys options without the CONFIG_ prefix; accept both spellings.
  const v = section[name] ?? section[name.replace(/^CONFIG_/, '')];
  // The collector records the BPF-related options only, so an absent key is "not looked at", not
  // "unset"; withKernelConfig() (enrich.ts) adds the options a requirement names.
  if (v === undefined) return { error: notProbed(`"config" has no entry for ${name}`) };
  if (isResult(v) && (v.status === 'error' || v.status === 'not-permitted')) return { error: v };
  const raw = isResult(v) ? v.value : v;
  return { value: typeof raw === 'string' && raw !== 'n' && raw !== '' ? raw : undefined };
}

export function currentConfig(report: ProbeReport): (name: string) => string | undefined {
  return (name) => {
    const r = kconfig(report, name);
    if ('error' in r) return undefined;
    return r.value === undefined ? 'not set' : `=${r.value}`;
  };
}

/** Mount of `fs` at `path`: from the `mounts` section (by path) or, for bpffs, the `bpffs` list. */
export function mountFact(report: ProbeReport, path: string, fs: string, magic: number): ProbeResult {
  if (fs === 'bpf') {
    const b = bpffsMounts(report);
    if (b)
      return b.some((m) => m.path === path) ? { status: 'supported' } : { status: 'unsupported', detail: `no bpffs mounted at ${path}` };
  }
  const m = report.mounts;
  if (typeof m !== 'object' || m === null) return notProbed('the report has no "mounts" section');
  // The system-facts collector keys mounts by filesystem: { bpffs: { value: [{ path }] }, tracefs: ... }.
  const byFs = (m as Record<string, unknown>)[FS_KEY[fs] ?? fs];
  if (isResult(byFs)) {
    if (byFs.status === 'error' || byFs.status === 'not-permitted') return byFs;
    const paths = Array.isArray(byFs.value)
      ? byFs.value.map((e) => (typeof e === 'object' && e !== null && !Array.isArray(e) ? e.path : undefined))
      : [];
    if (paths.includes(path)) return { status: 'supported' };
    return {
      status: 'unsupported',
      detail: `no ${fs} mounted at ${path}${paths.length ? ` (${fs} is mounted at ${paths.join(', ')})` : ''}`,
    };
  }
  // Otherwise: entries keyed by path, or a list, each naming its filesystem type or magic.
  const entries: unknown[] = Array.isArray(m) ? m : Object.entries(m).map(([k, v]) => ({ path: k, ...(v as object) }));
  for (const e of entries) {
    if (typeof e !== 'object' || e === null) continue;
    const rec = e as Record<string, unknown>;
    const value = (typeof rec.value === 'object' && rec.value !== null ? rec.value : rec) as Record<string, unknown>;
    if ((rec.path ?? value.path) !== path) continue;
    const got = value.magic ?? value.fsMagic;
    const type = value.fsType ?? value.type ?? value.fs;
    if (got === magic || type === fs) return { status: 'supported' };
    return { status: 'unsupported', detail: `${path} is mounted but is ${String(type ?? got)}, not ${fs}` };
  }
  return { status: 'unsupported', detail: `nothing is mounted at ${path}` };
}

const FS_KEY: Record<string, string> = {
  bpf: 'bpffs',
  tracefs: 'tracefs',
  debugfs: 'debugfs',
  securityfs: 'securityfs',
  cgroup2: 'cgroup2',
};

/** Worst of several results: unsupported (conclusive) > not-permitted > error > supported. */
export function worst(results: readonly ProbeResult[]): ProbeResult {
  const rank: Record<Status, number> = { unsupported: 3, 'not-permitted': 2, error: 1, supported: 0 };
  let w: ProbeResult = { status: 'supported' };
  for (const r of results) if (rank[r.status] > rank[w.status]) w = r;
  return w;
}
