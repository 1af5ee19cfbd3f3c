// Least privilege for an eBPF object: the smallest capability set the kernel checks for what the
// object loads, and the bpffs delegate_* options that let a BPF token do the same from a user
// namespace. Advice is derived from the kernel's checks (docs/kernel-notes.md#token-create, #capabilities); verify() then
// proves it on this node by loading the object with exactly that set (native-shim `caps --keep`) and
// exactly that delegation (`userns --delegate-*`), and by removing each item once to show it is needed.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BpfObject } from '../kernel/elf-bpf.ts';
import { capName, mapTypeCaps, progTypeCaps, CAP } from '../contract/capabilities.ts';
import type { Delegation } from './model.ts';
import type { LoadOutcome } from './load.ts';

// bpf_base_func_proto(): these helpers are offered only to perfmon_capable() callers (they read
// kernel memory or leak kernel pointers), whatever the program type.
const PERFMON_HELPERS = new Set([
  'probe_read',
  'probe_read_str',
  'probe_read_kernel',
  'probe_read_kernel_str',
  'probe_read_user',
  'probe_read_user_str',
  'trace_printk',
  'trace_vprintk',
  'get_current_task',
  'get_current_task_btf',
  'snprintf_btf',
  'copy_from_user',
  'copy_from_user_task',
  'task_pt_regs',
]);

export interface PrivilegeAdvice {
  /** Minimal effective capability set (names as in /proc/self/status decoding: cap_bpf, ...). */
  capabilities: string[];
  /** Why each capability is there. */
  because: Record<string, string[]>;
  /** bpffs delegation for a token doing the same loads. */
  delegation: Delegation;
  /** The mount options, ready to paste. */
  mountOptions: string;
  notes: string[];
}

export function adviseObject(obj: BpfObject, unprivilegedBpfDisabled: number): PrivilegeAdvice {
  const because: Record<string, Set<string>> = {};
  const need = (cap: number, why: string): void => {
    (because[capName(cap)] ??= new Set()).add(why);
  };
  // kernel.unprivileged_bpf_disabled != 0: map_create and prog_load need CAP_BPF for every type.
  if (unprivilegedBpfDisabled !== 0 && (obj.programs.length || obj.maps.length))
    need(CAP.BPF, `kernel.unprivileged_bpf_disabled=${unprivilegedBpfDisabled}`);
  // A program in a section libbpf does not know has no type until its loader picks one: nothing to
  // advise for it (its requirement says so).
  const typed = obj.programs.filter((p) => !p.unknownSection);
  for (const p of typed) {
    for (const c of progTypeCaps(p.progType)) need(c, `${p.progType} program ${p.name}`);
    if (p.kfuncs.length) need(CAP.BPF, `kfunc calls in ${p.name}`);
    if (p.callsSubprograms) need(CAP.BPF, `bpf-to-bpf calls in ${p.name}`);
    for (const h of p.helpers) if (PERFMON_HELPERS.has(h)) need(CAP.PERFMON, `helper bpf_${h} in ${p.name}`);
  }
  for (const m of obj.maps) for (const c of mapTypeCaps(m.type)) need(c, `${m.type} map ${m.name}`);
  for (const m of obj.structOps) for (const c of mapTypeCaps('struct_ops')) need(c, `struct_ops map ${m.name}`);

  const attachs = new Set<string>();
  // libbpf loads a struct_ops program with the index of the struct member it fills as its expected
  // attach type: which numbers those are depends on the kernel's struct, so only `any` covers them.
  const structOpsProgs = typed.some((p) => p.progType === 'struct_ops');
  for (const p of typed) attachs.add(p.progType === 'struct_ops' ? 'any' : (p.attachType ?? 'cgroup_inet_ingress'));
  const mapTypes = [...obj.maps.map((m) => m.type), ...(obj.structOps.length ? ['struct_ops'] : [])];
  const delegation: Delegation = {
    cmds: [...(mapTypes.length ? ['map_create'] : []), ...(typed.length ? ['prog_load'] : []), ...(obj.hasBtf ? ['btf_load'] : [])].sort(),
    maps: [...new Set(mapTypes)].sort(),
    progs: [...new Set(typed.map((p) => p.progType))].sort(),
    attachs: attachs.has('any') ? ['any'] : [...attachs].sort(),
  };
  const notes = [
    'capabilities cover loading; attaching adds its own checks (cgroup and tc/xdp attach: cap_net_admin; perf_event_open for kprobes/tracepoints: cap_perfmon)',
    'with a token, the loader needs cap_bpf (and the other capabilities above) in the user namespace that owns the bpffs, not in the initial one',
  ];
  if (typed.length < obj.programs.length)
    notes.push(
      `no advice for ${obj.programs
        .filter((p) => p.unknownSection)
        .map((p) => p.name)
        .join(', ')}: the section names no program type (the loader chooses it)`,
    );
  if (typed.some((p) => !p.attachType)) {
    notes.push('programs loaded with expected_attach_type 0 are checked against attach type 0, cgroup_inet_ingress, in delegate_attachs');
  }
  if (structOpsProgs) notes.push('struct_ops programs are loaded with the member index as expected_attach_type: delegate_attachs=any');
  if (obj.hasBtf)
    notes.push("btf_load is for loaders that load the object's BTF (libbpf does); bpfready's own verification loader does not");
  const capabilities = Object.keys(because).sort();
  return {
    capabilities,
    because: Object.fromEntries(capabilities.map((c) => [c, [...because[c]!].sort()])),
    delegation,
    mountOptions: mountOptions(delegation),
    notes,
  };
}

export function mountOptions(d: Delegation): string {
  return (['cmds', 'maps', 'progs', 'attachs'] as const)
    .filter((k) => d[k].length)
    .map((k) => `delegate_${k}=${d[k].join(':')}`)
    .join(',');
}

// ----------------------------------------------------------------------------------------------------
// Verification through native-shim.

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
export const SHIM = join(ROOT, 'native-shim/build/bpfready-shim');
const LOAD_MAIN = join(HERE, 'load-main.ts');

export interface Trial {
  /** What was granted: a capability list or a delegation. */
  granted: string;
  /** Every map and program loaded. */
  loaded: boolean;
  /** What did not load, with its status. */
  failures: string[];
}

export interface Verification {
  capabilities: { exact: Trial; withoutEach: Record<string, Trial>; allNeeded: boolean };
  token?: { exact: Trial; withoutToken: Trial; withoutEach: Record<string, Trial>; allNeeded: boolean; unproven: string[] };
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { maxBuffer: 8 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

async function trial(granted: string, shimArgs: string[], elf: string, extra: string[] = []): Promise<Trial> {
  const r = await run(SHIM, [...shimArgs, '--', process.execPath, LOAD_MAIN, elf, ...extra]);
  let out: LoadOutcome;
  try {
    out = JSON.parse(r.stdout) as LoadOutcome;
  } catch {
    return { granted, loaded: false, failures: [`loader did not run (exit ${r.code}): ${r.stderr.trim().split('\n').at(-1) ?? ''}`] };
  }
  const failures = [
    ...Object.entries(out.maps).map(([k, v]) => [`map ${k}`, v] as const),
    ...Object.entries(out.programs).map(([k, v]) => [`program ${k}`, v] as const),
  ]
    .filter(([, v]) => v.status !== 'supported')
    .map(([k, v]) => `${k}: ${v.status}${v.errno ? ` ${v.errno}` : ''}`);
  return { granted, loaded: failures.length === 0, failures };
}

/** Prove the advice on this node. Needs root (init-ns CAP_SYS_ADMIN for the shim) and the built shim. */
export async function verify(elf: string, advice: PrivilegeAdvice, opts: { token?: boolean } = {}): Promise<Verification> {
  if (!existsSync(SHIM)) throw new Error(`native-shim is not built (${SHIM}); run make -C native-shim`);
  const caps = advice.capabilities;
  const keep = (list: string[]): string[] => ['caps', '--keep', list.length ? list.join(',') : 'none'];
  const exact = await trial(caps.join(',') || 'none', keep(caps), elf);
  const withoutEach: Record<string, Trial> = {};
  for (const c of caps)
    withoutEach[c] = await trial(caps.filter((x) => x !== c).join(',') || 'none', keep(caps.filter((x) => x !== c)), elf);
  const result: Verification = { capabilities: { exact, withoutEach, allNeeded: Object.values(withoutEach).every((t) => !t.loaded) } };
  if (opts.token) result.token = await verifyToken(elf, advice.delegation);
  return result;
}

async function verifyToken(elf: string, d: Delegation): Promise<NonNullable<Verification['token']>> {
  const dir = mkdtempSync(join(tmpdir(), 'bpfready-verify-'));
  const bpffs = join(dir, 'bpffs');
  const args = (del: Delegation): string[] => [
    'userns',
    '--bpffs',
    bpffs,
    ...(['cmds', 'maps', 'progs', 'attachs'] as const).flatMap((k) => (del[k].length ? [`--delegate-${k}`, del[k].join(':')] : [])),
  ];
  try {
    const exact = await trial(mountOptions(d), args(d), elf, ['--token', bpffs]);
    const withoutToken = await trial(`${mountOptions(d)} (token not used)`, args(d), elf);
    const withoutEach: Record<string, Trial> = {};
    const unproven: string[] = [];
    for (const k of ['cmds', 'maps', 'progs', 'attachs'] as const) {
      for (const item of d[k]) {
        const less: Delegation = { ...d, [k]: d[k].filter((x) => x !== item) };
        const t = await trial(mountOptions(less), args(less), elf, ['--token', bpffs]);
        withoutEach[`delegate_${k}:${item}`] = t;
        // bpfready's loader does not load BTF, so it cannot show btf_load is needed; it is reported as
        // unproven rather than counted against the advice.
        if (t.loaded) unproven.push(`delegate_${k}:${item}`);
      }
    }
    return { exact, withoutToken, withoutEach, allNeeded: unproven.every((u) => u === 'delegate_cmds:btf_load'), unproven };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
