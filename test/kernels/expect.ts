// What a Debian 6.1 kernel must say, as checks over one guest run. Pure: run.ts applies them to a
// fresh qemu boot, test/unit/kernel-fixtures.test.ts to the recorded fixtures.
import { interpretHelper } from '../../src/contract/interpret.ts';
import { STATUSES, type ProbeResult, type ResultMap } from '../../src/contract/result.ts';
import { helperLog, type RawHelpers } from './record-raw.ts';
import { newMarks, type Snapshot } from './marks.ts';
import { MAP_TYPES, MAP_TYPE_SINCE } from '../../src/probes/maps.ts';
import { PROGRAM_TYPES, PROGRAM_TYPE_SINCE, versionAtMost, type KernelSince } from '../../src/probes/programs.ts';

/** `bpftool feature probe full -j` (bpftool 7.1 / libbpf 1.1 in Debian 12). */
export interface BpftoolFeatures {
  program_types: Record<string, boolean>;
  map_types: Record<string, boolean>;
  helpers: Record<string, string[]>;
  misc: Record<string, boolean>;
}

/** One kernel's recorded run: also the shape of test/kernels/fixtures/<release>.json. */
export interface KernelRun {
  release: string;
  flavour: string;
  /** Debian package and version the image came from. */
  pkg: string;
  version: string;
  /** `bpfready probe --json` in the guest, as parsed JSON. */
  probe: Record<string, unknown>;
  bpftool: BpftoolFeatures;
  /** The helper matrix's raw kernel answers (record-raw.ts), for re-interpretation without qemu. */
  raw: RawHelpers;
  /**
   * Kernel log and trace state (marks.ts) before and after the probe, and after bpftool's "full"
   * probe; the last two keep only the kernel log lines that `before` does not have.
   */
  marks?: { before: Snapshot; after: Snapshot; bpftool: Snapshot };
  /** `probe --json --tables-only` under exactly these capabilities, by subset label (encodeSubset). */
  subsets?: Record<string, SubsetRun>;
}

/**
 * One capability subset's run, compact: for every table of the root report (and every helper row),
 * one letter per result in the root report's key order (s, u, n, e: supported, unsupported,
 * not-permitted, error). A helper row the subset's report leaves out is its program type's row, as a
 * consumer reads it (docs/json.md).
 */
export interface SubsetRun {
  keep: string;
  effective: string[];
  statuses: Record<string, string>;
}

export interface Check {
  name: string;
  ok: boolean;
  /** What was compared, and on failure what differed. */
  lines: string[];
}

/** The report sections the engine itself fills (src/contract/report.ts); a missing one fails every check. */
const CORE_SECTIONS = ['programTypes', 'mapTypes', 'helpers', 'attachTypes', 'misc'] as const;

/** Errnos the result contract maps to unsupported (src/contract/interpret.ts). */
const UNSUPPORTED_ERRNOS = new Set(['EINVAL', 'E2BIG', 'ENOTSUPP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Features 6.1 does not have, found by the key path of each fact; each pattern must match at least
 * one fact, so a renamed key fails instead of passing vacuously. `config` is left out: it mirrors
 * the kernel's build options, which are values, not the kernel's answers.
 */
export const ABSENT_ON_6_1: ReadonlyArray<{ feature: string; key: RegExp; since: string }> = [
  { feature: 'BPF tokens', key: /token_create|(^|\.)token(\.|$)/, since: '6.9' },
  { feature: 'arena maps', key: /(^|\.)arena$/, since: '6.9' },
  { feature: 'tcx', key: /(^|[./])tcx(_|$)/, since: '6.6' },
  { feature: 'netkit', key: /(^|[./])netkit(_|$)/, since: '6.7' },
  { feature: 'uprobe_multi', key: /uprobe_multi/, since: '6.6' },
  // All of ISA v4 (sdiv, movsx, bswap, ldsx; docs/probes.md): 6.1 loads gotol alone, seen in these guests.
  { feature: 'ISA v4', key: /(^|\.)v4_isa_extension$/, since: '6.6' },
];

/**
 * Features every Debian 6.1 kernel has (the version that added each, upstream), so a false
 * "unsupported" on a common production kernel fails here. Keys are exact: a missing one fails.
 */
export const PRESENT_ON_6_1: ReadonlyArray<{ key: string; since: string }> = [
  { key: 'programTypes.tracing', since: '5.5' },
  { key: 'programTypes.ext', since: '5.6' },
  { key: 'programTypes.struct_ops', since: '5.6' },
  { key: 'programTypes.lsm', since: '5.7' },
  { key: 'programTypes.sk_lookup', since: '5.9' },
  { key: 'programTypes.syscall', since: '5.14' },
  { key: 'mapTypes.ringbuf', since: '5.8' },
  { key: 'mapTypes.inode_storage', since: '5.10' },
  { key: 'mapTypes.task_storage', since: '5.11' },
  { key: 'mapTypes.bloom_filter', since: '5.16' },
  { key: 'mapTypes.user_ringbuf', since: '6.1' },
  { key: 'attachTypes.trace_fentry', since: '5.5' },
  { key: 'attachTypes.trace_fexit', since: '5.5' },
  // Needs a target on the error-injection list or a security_* function. Debian builds 6.1 without
  // CONFIG_FUNCTION_ERROR_INJECTION: bpf_modify_return_test is "not modifiable" (EINVAL) there,
  // while fmod_ret on security_file_open loads (seen in these guests).
  { key: 'attachTypes.modify_return', since: '5.7' },
  { key: 'attachTypes.lsm_mac', since: '5.7' },
  { key: 'attachTypes.trace_iter', since: '5.8' },
  { key: 'misc.v2_isa_extension', since: '4.14' },
  { key: 'misc.v3_isa_extension', since: '5.1' },
  { key: 'misc.large_insn_limit', since: '5.2' },
  { key: 'misc.bounded_loops', since: '5.3' },
  { key: 'misc.bpf2bpf_calls', since: '4.16' },
  // bpf_rcu_read_lock/unlock are 6.2. On 6.1 the verifier resolves e.g. bpf_kfunc_call_test1 from a
  // sched_cls program before it rejects the arguments (seen in these guests).
  { key: 'misc.kfunc_calls', since: '5.13' },
  { key: 'helpers.kprobe.bpf_get_func_ip', since: '5.15' },
  { key: 'helpers.xdp.bpf_redirect', since: '4.14' },
];

/** A difference from bpftool, or a not-permitted/error result, that is understood. */
export interface Explained {
  /** Matched against "helpers.<progtype>.<helper>", "programTypes.<name>", ... */
  key: RegExp;
  /** Only when our status is this one (the direction of the difference matters). */
  ours?: ProbeResult['status'];
  reason: string;
}

export const EXPLAINED_BPFTOOL_DIFFERENCES: readonly Explained[] = [
  {
    // bpftool's "full" probes them; our default does not (they mark the node, docs/probes.md).
    key: /^helpers\.[\w/]+\.bpf_(trace_printk|trace_vprintk|probe_write_user)$/,
    ours: 'error',
    reason: 'not probed by default: a load that may call it marks the node (bpfready probe --full probes it)',
  },
  {
    // libbpf 1.1 libbpf_probe_bpf_helper() returns -EOPNOTSUPP for these types (they need a BTF
    // attach target), so bpftool lists no helpers for them; we load them against a real target.
    key: /^helpers\.(tracing|struct_ops|ext|lsm)\./,
    reason: 'bpftool 7.1 (libbpf 1.1) does not probe helpers of program types that need a BTF attach target',
  },
  {
    // 6.1 verifier, check_helper_call(): the prototype exists for every tracing type, but
    // check_get_func_ip() then refuses any type but kprobe (and fentry/fexit) with
    // "func bpf_get_func_ip#173 not supported for program type N" and ENOTSUPP. libbpf 1.1 only reads
    // "invalid func"/"unknown func" as absent, so bpftool lists it; such a program can never load.
    key: /^helpers\.[a-z_]+\.bpf_get_func_ip$/,
    ours: 'unsupported',
    reason: 'the verifier refuses bpf_get_func_ip outside kprobe/fentry/fexit with ENOTSUPP, a message libbpf 1.1 does not read as absent',
  },
];

export const EXPLAINED_INCONCLUSIVE: readonly Explained[] = [
  {
    // Kfuncs are listed from their "bpf_kfunc" BTF decl tags, which pahole >= 1.26 emits for
    // functions marked __bpf_kfunc; 6.1 predates the marking, so its BTF cannot say.
    key: /^btf\.kfuncs$/,
    ours: 'error',
    reason: '6.1 vmlinux BTF has no "bpf_kfunc" decl tags to list kfuncs from',
  },
];

type Found = [path: string, result: ProbeResult];

function isResult(v: unknown): v is ProbeResult {
  return typeof v === 'object' && v !== null && typeof (v as { status?: unknown }).status === 'string';
}

/** Every fact in a section, with its dotted key path. */
export function facts(node: unknown, path: string): Found[] {
  if (isResult(node)) return [[path, node]];
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([k, v]) => facts(v, path ? `${path}.${k}` : k));
}

function explain(key: string, table: readonly Explained[], ours?: ProbeResult['status']): string | undefined {
  return table.find((e) => e.key.test(key) && (e.ours === undefined || e.ours === ours))?.reason;
}

function check(name: string, problems: string[], info: string[] = []): Check {
  return { name, ok: problems.length === 0, lines: [...problems, ...info] };
}

function section(run: KernelRun, name: string): Record<string, unknown> {
  const s = run.probe[name];
  if (typeof s !== 'object' || s === null) throw new Error(`probe report has no "${name}" section`);
  return s as Record<string, unknown>;
}

function reportShape(run: KernelRun): Check {
  const problems: string[] = [];
  if (run.probe.schemaVersion !== 1) problems.push(`schemaVersion is ${JSON.stringify(run.probe.schemaVersion)}, expected 1`);
  const release = (run.probe.kernel as { release?: unknown } | undefined)?.release;
  if (release !== run.release) problems.push(`kernel.release is ${JSON.stringify(release)}, the guest booted ${run.release}`);
  for (const s of CORE_SECTIONS) {
    const v = run.probe[s];
    if (typeof v !== 'object' || v === null || Object.keys(v).length === 0) problems.push(`section "${s}" is missing or empty`);
  }
  return check('report shape and kernel.release', problems, [`kernel.release ${JSON.stringify(release)}`]);
}

function wellFormed(all: Found[]): Check {
  const problems: string[] = [];
  for (const [path, r] of all) {
    if (!STATUSES.includes(r.status)) problems.push(`${path}: status ${JSON.stringify(r.status)} is not one of ${STATUSES.join(', ')}`);
    if (r.errno !== undefined && !/^E[A-Z0-9]+$|^errno \d+$/.test(r.errno))
      problems.push(`${path}: errno ${JSON.stringify(r.errno)} is not an errno name`);
    if (r.detail !== undefined && typeof r.detail !== 'string') problems.push(`${path}: detail is not a string`);
    if (r.status === 'not-permitted' && r.errno !== 'EPERM' && r.errno !== 'EACCES' && r.errno !== undefined) {
      problems.push(`${path}: not-permitted with ${r.errno}: only EPERM/EACCES mean "not permitted"`);
    }
  }
  return check('every result is well-formed', problems, [`${all.length} results`]);
}

/** The guest runs the probe as root with every capability: nothing may be left undecided. */
function conclusive(all: Found[]): Check {
  const problems: string[] = [];
  const info: string[] = [];
  let notProbed = 0;
  for (const [path, r] of all) {
    if (r.status !== 'not-permitted' && r.status !== 'error') continue;
    if (r.notProbed === 'side-effect' && /^helpers\.[\w/]+\.bpf_(trace_printk|trace_vprintk|probe_write_user)$/.test(path)) {
      notProbed++;
      continue;
    }
    const why = explain(path, EXPLAINED_INCONCLUSIVE, r.status);
    const line = `${path}: ${r.status} ${r.errno ?? ''} ${r.detail ?? ''}`.trim();
    if (why) info.push(`explained ${line} — ${why}`);
    else problems.push(line);
  }
  if (notProbed)
    info.push(`explained ${notProbed} helper result(s) not probed by default: they mark the node (bpfready probe --full probes them)`);
  return check('as root every engine result is conclusive', problems, info);
}

function absentFeatures(all: Found[]): Check[] {
  return ABSENT_ON_6_1.map(({ feature, key, since }) => {
    const hits = all.filter(([p]) => key.test(p));
    const problems: string[] = [];
    if (hits.length === 0) problems.push(`no result matches ${key}: the report does not say anything about ${feature}`);
    for (const [p, r] of hits) {
      if (r.status !== 'unsupported')
        problems.push(`${p}: ${r.status} ${r.errno ?? ''}, expected unsupported (${feature} arrived in ${since})`);
      else if (r.errno !== undefined && !UNSUPPORTED_ERRNOS.has(r.errno))
        problems.push(`${p}: unsupported with ${r.errno}, expected an EINVAL-class errno`);
    }
    return check(
      `${feature} unsupported (added in ${since})`,
      problems,
      hits.map(([p, r]) => `${p}: ${r.status} ${r.errno ?? ''}`.trim()),
    );
  });
}

function presentFeatures(run: KernelRun): Check {
  const programTypes = section(run, 'programTypes');
  const problems: string[] = [];
  const info: string[] = [];
  for (const t of ['tracing', 'lsm']) {
    const r = programTypes[t];
    if (!isResult(r)) problems.push(`programTypes.${t} is missing`);
    else if (r.status !== 'supported') problems.push(`programTypes.${t}: ${r.status} ${r.errno ?? ''} ${r.detail ?? ''}`);
    else info.push(`programTypes.${t}: supported`);
  }
  return check('tracing and lsm program types supported', problems, info);
}

function presentOn61(run: KernelRun): Check {
  const problems: string[] = [];
  for (const { key, since } of PRESENT_ON_6_1) {
    const r = key.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], run.probe);
    if (!isResult(r)) problems.push(`${key}: missing from the report`);
    else if (r.status !== 'supported')
      problems.push(
        `${key}: ${r.status}${r.errno ? ` ${r.errno}` : ''}${r.detail ? ` (${r.detail})` : ''}, but it is in Linux since ${since}`,
      );
  }
  return check('features every 6.1 kernel has are supported', problems, [`${PRESENT_ON_6_1.length} features`]);
}

/**
 * The probe tables' first kernels (src/probes/programs.ts PROGRAM_TYPE_SINCE, maps.ts MAP_TYPE_SINCE)
 * against this kernel: a row from this version or before is supported (unless the kernel option it
 * also needs is not set), a later one is unsupported. Every row of a table has a version.
 */
function tableVersions(run: KernelRun): Check {
  const m = /^(\d+)\.(\d+)/.exec(run.release);
  const release = `${m?.[1]}.${m?.[2]}` as `${number}.${number}`;
  const config = (run.probe['config'] ?? {}) as Record<string, { value?: unknown } | undefined>;
  const problems: string[] = m ? [] : [`release ${run.release}: no major.minor`];
  const info: string[] = [];
  const tables: [string, Readonly<Record<string, unknown>>, Readonly<Record<string, KernelSince>>][] = [
    ['programTypes', PROGRAM_TYPES, PROGRAM_TYPE_SINCE],
    ['mapTypes', MAP_TYPES, MAP_TYPE_SINCE],
  ];
  for (const [name, rows, since] of tables) {
    for (const k of Object.keys(rows)) if (!(k in since)) problems.push(`${name}.${k}: no first kernel in the table`);
    for (const k of Object.keys(since)) if (!(k in rows)) problems.push(`${name}.${k}: a first kernel for a row the table does not have`);
    const results = section(run, name);
    for (const [k, { since: v, needs }] of Object.entries(since)) {
      const r = results[k];
      if (!isResult(r)) {
        problems.push(`${name}.${k}: missing from the report`);
        continue;
      }
      const option = needs ? config[needs]?.value : undefined;
      const built = !needs || option === 'y' || option === 'm';
      const want = v !== null && versionAtMost(v, release) && built ? 'supported' : 'unsupported';
      const why = `${v === null ? 'in no kernel yet' : `since ${v}`}${needs ? `, CONFIG_${needs}=${String(option ?? 'unset')}` : ''}`;
      if (r.status !== want)
        problems.push(`${name}.${k}: ${r.status}${r.errno ? ` ${r.errno}` : ''}, expected ${want} on ${release} (${why})`);
      else if (want === 'unsupported') info.push(`${name}.${k}: unsupported (${why})`);
    }
  }
  return check("the probe tables' first kernels hold on this kernel", problems, info);
}

/** Our verdicts against bpftool's booleans for the names both know. */
function agreeWithBpftool(
  label: string,
  ours: Record<string, unknown>,
  theirs: Record<string, boolean>,
  nameOf: (key: string) => string | undefined,
): Check {
  const problems: string[] = [];
  const info: string[] = [];
  let compared = 0;
  for (const [key, has] of Object.entries(theirs)) {
    const name = nameOf(key);
    if (!name) continue;
    const r = ours[name];
    const path = `${label}.${name}`;
    if (!isResult(r)) {
      problems.push(`${path}: bpftool says ${has ? 'available' : 'unavailable'}, the report has no such key`);
      continue;
    }
    compared++;
    if ((r.status === 'supported') === has) continue;
    const line = `${path}: ours ${r.status}${r.errno ? ` ${r.errno}` : ''}, bpftool ${has ? 'available' : 'unavailable'}`;
    const why = explain(path, EXPLAINED_BPFTOOL_DIFFERENCES, r.status);
    if (why) info.push(`explained ${line} — ${why}`);
    else problems.push(`${line}${r.detail ? ` (${r.detail})` : ''}`);
  }
  if (compared === 0) problems.push(`nothing compared: bpftool's ${label} and ours share no names`);
  return check(`${label} agree with bpftool`, problems, [`${compared} compared`, ...info]);
}

/**
 * The helper matrix against bpftool's per-type lists. bpftool only lists helpers it found, so for
 * each program type both probed, ours supported ⇔ in bpftool's list.
 */
function helpersAgree(run: KernelRun): Check {
  const helpers = section(run, 'helpers') as Record<string, Record<string, unknown>>;
  const problems: string[] = [];
  const info: string[] = [];
  // "bpf_x: ours supported, bpftool not listed" → the program types where that happens.
  const differences = new Map<string, string[]>();
  let compared = 0;
  for (const [key, list] of Object.entries(run.bpftool.helpers)) {
    const progType = key.replace(/_available_helpers$/, '');
    if (!run.bpftool.program_types[`have_${progType}_prog_type`]) continue;
    const ours = helpers[progType];
    if (!ours) {
      problems.push(`helpers.${progType}: bpftool probed it, the report has no such program type`);
      continue;
    }
    const available = new Set(list);
    for (const name of available) {
      if (!isResult(ours[name])) problems.push(`helpers.${progType}.${name}: bpftool lists it, the report has no such key`);
    }
    for (const [name, r] of Object.entries(ours)) {
      if (!isResult(r)) continue;
      compared++;
      if ((r.status === 'supported') === available.has(name)) continue;
      const path = `helpers.${progType}.${name}`;
      const verdict = `ours ${r.status}${r.errno ? ` ${r.errno}` : ''}, bpftool ${available.has(name) ? 'available' : 'not listed'}`;
      const why = explain(path, EXPLAINED_BPFTOOL_DIFFERENCES, r.status);
      if (why) {
        info.push(`explained ${path}: ${verdict} — ${why}`);
        continue;
      }
      // The detail names the helper's id, the same in every program type: group by it.
      const group = `${name}: ${verdict}${r.detail ? ` (${r.detail})` : ''}`;
      differences.set(group, [...(differences.get(group) ?? []), progType]);
    }
  }
  for (const [group, types] of differences) problems.push(`${group} — in ${types.length} program type(s): ${types.join(', ')}`);
  if (compared === 0) problems.push('nothing compared: no program type in both helper matrices');
  return check('helper matrix agrees with bpftool in the same guest', problems, [`${compared} compared`, ...collapse(info)]);
}

/** Explained lines grouped by reason, so a whole program type is one line of output. */
function collapse(info: string[]): string[] {
  const byReason = new Map<string, number>();
  for (const l of info) {
    const reason = l.slice(l.indexOf(' — ') + 3);
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
  return [...byReason].map(([reason, n]) => `explained ${n} difference(s): ${reason}`);
}

/** Today's interpreter over the recorded kernel answers: helpers[progType][bpf_name]. */
export function reinterpretHelpers(raw: RawHelpers): Record<string, ResultMap> {
  const out: Record<string, ResultMap> = {};
  for (const [progType, row] of Object.entries(raw.rows)) {
    const results: ResultMap = {};
    row.forEach((entry, id) => {
      if (id === 0) return;
      const o = entry === 0 ? { ok: true } : { ok: false, errno: entry[0], log: helperLog(raw, entry[1], id) };
      results[`bpf_${raw.helperNames[id]}`] = interpretHelper(o, id);
    });
    out[progType] = results;
  }
  return out;
}

/**
 * The recorder must ask what the engine asked: same statuses from the same kernel. Its rows of
 * "<type>/<attach>" are every attach type of a helper class that loads, each probed on its own; the
 * report's row for it is its own or, left out, the type's (docs/json.md): so this also proves that
 * the attach types of one class, which the engine probes once, get the same answers.
 */
function recorderAgrees(run: KernelRun): Check {
  const helpers = section(run, 'helpers') as Record<string, ResultMap>;
  const problems: string[] = [];
  let compared = 0;
  const variants: string[] = [];
  for (const [key, row] of Object.entries(reinterpretHelpers(run.raw))) {
    const reportRow = helpers[key] ?? helpers[key.split('/')[0]!];
    if (key.includes('/')) variants.push(`${key} (${helpers[key] ? 'own row' : "the type's row"})`);
    for (const [name, r] of Object.entries(row)) {
      const ours = reportRow?.[name];
      if (ours?.notProbed) continue;
      compared++;
      if (ours?.status !== r.status)
        problems.push(`helpers.${key}.${name}: report ${ours?.status ?? 'missing'}, recorded answer means ${r.status}`);
    }
  }
  if (compared === 0) problems.push('no raw helper answers recorded');
  return check('recorded raw helper answers reproduce the report', problems, [
    `${compared} compared`,
    `attach-type rows recorded on their own: ${variants.join(', ') || 'none'}`,
  ]);
}

const LETTER: Record<string, string> = { supported: 's', unsupported: 'u', 'not-permitted': 'n', error: 'e' };
const STATUS_OF: Record<string, string> = Object.fromEntries(Object.entries(LETTER).map(([k, v]) => [v, k]));

/** The tables of a report, each a key → result map, by path ("misc", "helpers.xdp", "helpers.tracing/trace_iter"). */
function tables(report: Record<string, unknown>): [string, ResultMap][] {
  const out: [string, ResultMap][] = ['programTypes', 'mapTypes', 'attachTypes', 'misc'].map((s) => [s, (report[s] ?? {}) as ResultMap]);
  for (const [row, map] of Object.entries((report.helpers ?? {}) as Record<string, ResultMap>)) out.push([`helpers.${row}`, map]);
  return out;
}

/** A subset's report in the compact form of SubsetRun, against the root report's keys. */
export function encodeSubset(keep: string, root: Record<string, unknown>, sub: Record<string, unknown>): SubsetRun {
  const theirs = new Map(tables(sub));
  const statuses: Record<string, string> = {};
  for (const [path, map] of tables(root)) {
    const other = theirs.get(path) ?? theirs.get(path.split('/')[0]!);
    statuses[path] = Object.keys(map)
      .map((k) => LETTER[other?.[k]?.status ?? ''] ?? '?')
      .join('');
  }
  return { keep, effective: ((sub.context as { effective?: string[] } | undefined)?.effective ?? []).slice(), statuses };
}

/**
 * Under each capability subset, nothing the root probe found supported may read unsupported (issue
 * 15): a helper the kernel hides from the caller, a load the verifier refuses it, must be
 * not-permitted. With CAP_SYS_ADMIN, which passes every check the lookups and the verifier make, the
 * answers must be root's.
 */
export function checkSubsets(run: KernelRun): Check[] {
  const out: Check[] = [];
  for (const [label, sub] of Object.entries(run.subsets ?? {})) {
    const problems: string[] = [];
    const counts = { compared: 0, supported: 0, 'not-permitted': 0, unsupported: 0, error: 0, '?': 0 };
    const contradictions = new Map<string, string[]>();
    let differ = 0;
    if ([...sub.effective].sort().join(',') !== sub.keep.split(',').sort().join(','))
      problems.push(`context.effective is ${sub.effective.join(',')}, asked for ${sub.keep}`);
    for (const [path, map] of tables(run.probe)) {
      const letters = sub.statuses[path];
      if (letters === undefined) {
        problems.push(`${path}: not in the ${label} run`);
        continue;
      }
      Object.entries(map).forEach(([k, r], i) => {
        const theirs = STATUS_OF[letters[i] ?? ''] ?? '?';
        if (theirs !== r.status) differ++;
        if (r.status !== 'supported') return;
        counts.compared++;
        counts[theirs as keyof typeof counts]++;
        if (theirs === 'unsupported') contradictions.set(path, [...(contradictions.get(path) ?? []), k]);
      });
    }
    for (const [path, keys] of contradictions) problems.push(`${path}: ${keys.join(', ')} supported as root, unsupported with ${sub.keep}`);
    if (sub.keep.includes('cap_sys_admin') && differ)
      problems.push(`${differ} result(s) differ from root although cap_sys_admin passes every capability check the probes meet`);
    if (counts['?']) problems.push(`${counts['?']} result(s) missing from the ${label} run`);
    out.push(
      check(`with exactly ${sub.keep}: nothing supported as root reads unsupported`, problems, [
        `of ${counts.compared} results supported as root: ${counts.supported} supported, ${counts['not-permitted']} not-permitted, ${counts.unsupported} unsupported, ${counts.error} error; ${differ} of all results differ from root`,
      ]),
    );
  }
  return out;
}

/**
 * The default probe leaves no mark (issue 20): nothing new in the kernel log or the trace state.
 * The guest is fresh and runs nothing else, so every difference is the probe's. bpftool's "full"
 * probe right after is the control: the same comparison must see its marks.
 */
export function checkMarks(run: KernelRun): Check[] {
  if (!run.marks) return [check('the default probe leaves no mark on the node', ['no marks snapshots recorded'])];
  const { before, after, bpftool } = run.marks;
  const problems: string[] = [];
  if (!(before.buffer_size_kb ?? []).length) problems.push('tracefs was not readable in the guest: the comparison would prove nothing');
  const ours = newMarks(before, after);
  const control = newMarks(after, bpftool);
  const sawControl = control.some((m) => m.startsWith('events/bpf_trace/bpf_trace_printk/enable'));
  return [
    check(
      'the default probe leaves no mark on the node (kernel log, trace state)',
      [...problems, ...ours],
      [
        `${(before.dmesg ?? []).length} kernel log lines before, ${(after.dmesg ?? []).length} new after, ${Object.keys(after).length - 1} trace state entries compared`,
      ],
    ),
    check(
      'the marks check sees the marks of bpftool feature probe full',
      sawControl ? [] : ['bpftool full left no bpf_trace_printk event switched on: the check could not see a real mark', ...control],
      control,
    ),
  ];
}

export function checkKernel(run: KernelRun): Check[] {
  const shape = reportShape(run);
  if (!shape.ok && shape.lines.some((l) => l.startsWith('section'))) return [shape];
  const all = CORE_SECTIONS.flatMap((s) => facts(run.probe[s], s)).concat(
    Object.keys(run.probe)
      .filter((s) => !CORE_SECTIONS.includes(s as never) && s !== 'config' && s !== 'kernel' && s !== 'context')
      .flatMap((s) => facts(run.probe[s], s)),
  );
  const fromBpftool = (suffix: string) => (k: string) =>
    k.startsWith('have_') && k.endsWith(suffix) ? k.slice(5, -suffix.length) : undefined;
  return [
    shape,
    wellFormed(all),
    conclusive(all),
    ...absentFeatures(all),
    presentFeatures(run),
    presentOn61(run),
    tableVersions(run),
    agreeWithBpftool('programTypes', section(run, 'programTypes'), run.bpftool.program_types, fromBpftool('_prog_type')),
    agreeWithBpftool('mapTypes', section(run, 'mapTypes'), run.bpftool.map_types, fromBpftool('_map_type')),
    agreeWithBpftool('misc', section(run, 'misc'), run.bpftool.misc, (k) => (k.startsWith('have_') ? k.slice(5) : undefined)),
    helpersAgree(run),
    recorderAgrees(run),
    ...checkSubsets(run),
    ...checkMarks(run),
  ];
}

/**
 * JSON with one line per fact, bpftool list or raw row: a status change is a one-line diff, and the
 * file stays a fraction of the size of fully indented JSON.
 */
export function formatFixture(run: KernelRun): string {
  const leaf = (v: unknown) => typeof v !== 'object' || v === null || Array.isArray(v) || 'status' in v;
  const fmt = (v: unknown, indent: string): string => {
    if (leaf(v)) return JSON.stringify(v);
    const inner = `${indent} `;
    const entries = Object.entries(v as object).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${fmt(x, inner)}`);
    return entries.length ? `{\n${entries.join(',\n')}\n${indent}}` : '{}';
  };
  return `${fmt(run, '')}\n`;
}

/**
 * The same kernel probed by an unprivileged user must never contradict root: "not permitted" may
 * replace any answer, but a supported/unsupported answer must be root's. An EPERM or a helper hidden
 * from callers without cap_bpf/cap_perfmon that is read as "unsupported" shows up here.
 */
export function checkUnprivileged(
  label: string,
  root: Record<string, unknown>,
  user: Record<string, unknown>,
  expectedEuid: number,
): Check {
  const problems: string[] = [];
  const euid = (user.context as { euid?: unknown } | undefined)?.euid;
  if (euid !== expectedEuid) problems.push(`context.euid is ${JSON.stringify(euid)}, expected ${expectedEuid}`);
  const rootFacts = new Map(CORE_SECTIONS.flatMap((s) => facts(root[s], s)));
  // A "<type>/<attach>" helper row one report has and the other leaves out is that report's type
  // row (docs/json.md): which rows are left out depends on which attach type loaded.
  const rootFact = (path: string): ProbeResult | undefined =>
    rootFacts.get(path) ?? rootFacts.get(path.replace(/^(helpers\.[\w]+)\/\w+\./, '$1.'));
  const userFacts = CORE_SECTIONS.flatMap((s) => facts(user[s], s));
  const counts: Record<string, number> = {};
  const contradictions = new Map<string, string[]>();
  for (const [path, u] of userFacts) {
    counts[u.status] = (counts[u.status] ?? 0) + 1;
    const r = rootFact(path);
    if (!r) {
      problems.push(`${path}: in the unprivileged report only`);
      continue;
    }
    if (u.status === 'not-permitted' || u.status === r.status) continue;
    // Group by what happened, so one root cause over many helpers is one line.
    const what = `root ${r.status}, unprivileged ${u.status}${u.errno ? ` ${u.errno}` : ''}`;
    contradictions.set(what, [...(contradictions.get(what) ?? []), path]);
  }
  for (const [what, paths] of contradictions) {
    problems.push(`${what} — ${paths.length} result(s): ${paths.slice(0, 12).join(', ')}${paths.length > 12 ? ', …' : ''}`);
  }
  if (userFacts.length === 0) problems.push('the unprivileged report has no results');
  const summary = Object.entries(counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return check(`${label}: never contradicts root`, problems, [summary]);
}
