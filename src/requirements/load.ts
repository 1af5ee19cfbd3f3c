// A small loader for the objects elf-bpf.ts reads, doing what libbpf does before the kernel sees a
// program: create every map (global data filled, .rodata and .kconfig frozen), link the .text
// functions each program calls, apply its CO-RE relocations against the kernel's BTF (an access that
// does not resolve becomes libbpf's poisoned call), patch map, global-data and kfunc relocations, and
// load each program on its own with its type, expected attach type, flags and BTF attach target. It is
// the ground truth the requirement check is measured against ("does this program actually load
// here?", test/corpus), and what the least-privilege verification runs under dropped capabilities or a
// token. Not libbpf: no object BTF is loaded (so no func_info; global functions cannot be verified),
// no map-in-map; those loads are `error` (the loader cannot say), never loaded or rejected.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { loadVmlinuxBtf, BtfKind, type Btf } from '../kernel/btf.ts';
import type { BpfObject, BpfProgramSpec, ProgramCoreRelo } from '../kernel/elf-bpf.ts';
import { resolveCore } from '../kernel/elf-core.ts';
import {
  BPF_F_SLEEPABLE,
  BPF_F_TOKEN_FD,
  BPF_F_XDP_HAS_FRAGS,
  bpfRaw,
  mapCreate,
  progLoad,
  type OwnedFd,
  type ProgLoadSpec,
} from '../native/bpf.ts';
import { addressOf, errnoName } from '../native/libc.ts';
import { ATTACH_TYPE_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { interpretCreate, EACCES, EINVAL } from '../contract/interpret.ts';
import { notPermitted, probeError, supported, unsupported, type ProbeResult, type ResultMap } from '../contract/result.ts';

/** Program types whose run-time target is a kernel BTF function (fentry/fexit/fmod_ret, lsm). */
const BTF_PREFIX: Record<string, true> = { tracing: true, lsm: true };

const BPF_PSEUDO_MAP_FD = 1;
const BPF_PSEUDO_MAP_VALUE = 2;
const BPF_PSEUDO_KFUNC_CALL = 2;

export interface LoadOutcome {
  /** By map name. */
  maps: ResultMap;
  /** By program (function) name. */
  programs: ResultMap;
}

export interface LoadOptions {
  /** Use this BPF token for every map create and program load. */
  tokenFd?: number;
  /** vmlinux BTF for attach targets, kfuncs and CO-RE (default: the running kernel's). */
  vmlinux?: Btf;
  /** Module BTF for CO-RE candidates vmlinux lacks. */
  modules?: Btf[];
  /** Attach targets chosen at run time, by program name (what a tool sets for `dummy_*` sections). */
  targets?: Record<string, string>;
  /** Load only these programs (default: every one), each on its own. */
  programs?: readonly string[];
  /**
   * Size maps the object leaves for its tool to size before loading (max_entries 0, a stack_trace map
   * without value_size) the way libbpf-tools do: 10240 entries, 127-frame stacks.
   */
  runtimeSizes?: boolean;
  /** Keep each loaded program's fd open and hand it to this callback (the caller closes it). */
  onLoaded?: (program: BpfProgramSpec, fd: OwnedFd) => void;
}

// enum bpf_cmd values the native layer has no wrapper for.
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_FREEZE = 22;

const ENOSPC = 28;

const MAP_IN_MAP = new Set(['array_of_maps', 'hash_of_maps']);
const RDONLY = new Set(['.kconfig']);

function possibleCpus(): number {
  // "0-3,5": libbpf sizes a perf_event_array without max_entries to the possible CPUs.
  try {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b! - a! + 1;
    }
    return n || 1;
  } catch {
    return 1;
  }
}

export function kernelVersionCode(rel = release()): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  return m ? (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(255, Number(m[3] ?? 0)) : 0;
}

/** libbpf's own .kconfig values; CONFIG_* externs are left 0 (bpfready does not fill them). */
function kconfigValue(name: string): bigint | undefined {
  if (name === 'LINUX_KERNEL_VERSION') return BigInt(kernelVersionCode());
  // bpf_get_attach_cookie (5.15) is on every kernel bpfready's tests load objects on.
  if (name === 'LINUX_HAS_BPF_COOKIE') return 1n;
  return undefined;
}

function fillGlobalData(obj: BpfObject, name: string, size: number, fd: OwnedFd): number | undefined {
  // map_create already accepted this size, so it is one the kernel can hold.
  const value = new Uint8Array(size);
  value.set((obj.data[name] ?? new Uint8Array(0)).subarray(0, size));
  if (name === '.kconfig') {
    const v = new DataView(value.buffer);
    for (const e of obj.externs) {
      const x = e.section === '.kconfig' && e.offset !== undefined ? kconfigValue(e.name) : undefined;
      if (x === undefined) continue;
      if (e.size === 8) v.setBigUint64(e.offset!, x, true);
      else if (e.size === 4) v.setUint32(e.offset!, Number(x), true);
      else if (e.size === 1) v.setUint8(e.offset!, Number(x));
    }
  }
  if (value.length) {
    // BPF_MAP_UPDATE_ELEM { map_fd, key, value, flags }.
    const key = new Uint8Array(4);
    const attr = new Uint8Array(32);
    const a = new DataView(attr.buffer);
    a.setUint32(0, fd.fd, true);
    a.setBigUint64(8, addressOf(key), true);
    a.setBigUint64(16, addressOf(value), true);
    const r = bpfRaw(BPF_MAP_UPDATE_ELEM, attr, 32);
    void key.length;
    void value.length;
    if (!r.ok) return r.errno;
  }
  // libbpf freezes read-only data so the verifier may treat its contents as constants.
  if (name.startsWith('.rodata') || RDONLY.has(name)) {
    const attr = new Uint8Array(4);
    new DataView(attr.buffer).setUint32(0, fd.fd, true);
    const r = bpfRaw(BPF_MAP_FREEZE, attr, 4);
    if (!r.ok) return r.errno;
  }
  return undefined;
}

export function loadObject(obj: BpfObject, opts: LoadOptions = {}): LoadOutcome {
  const out: LoadOutcome = { maps: {}, programs: {} };
  const fds = new Map<string, OwnedFd>();
  try {
    for (const m of obj.maps) {
      if (MAP_IN_MAP.has(m.type)) {
        out.maps[m.name] = probeError(undefined, `map ${m.name} (${m.type}): bpfready's loader does not create map-in-map`);
        continue;
      }
      const sized = opts.runtimeSizes && m.maxEntries === 0 && m.type !== 'perf_event_array' ? 10240 : m.maxEntries;
      const r = mapCreate({
        map_type: MAP_TYPE_NAMES.indexOf(m.type),
        key_size: m.keySize,
        value_size: opts.runtimeSizes && m.type === 'stack_trace' && m.valueSize === 0 ? 127 * 8 : m.valueSize,
        max_entries: m.type === 'perf_event_array' && m.maxEntries === 0 ? possibleCpus() : sized,
        map_flags: m.flags | (opts.tokenFd !== undefined ? BPF_F_TOKEN_FD : 0),
        ...(opts.tokenFd !== undefined ? { map_token_fd: opts.tokenFd } : {}),
      });
      if (r.ok) fds.set(m.name, r.fd);
      out.maps[m.name] = r.ok ? supported() : interpretCreate({ ok: false, errno: r.errno }, `map ${m.name} (${m.type})`);
      if (r.ok && m.source === 'global-data') {
        const errno = fillGlobalData(obj, m.name, m.valueSize, r.fd);
        if (errno !== undefined) out.maps[m.name] = interpretCreate({ ok: false, errno }, `filling global data ${m.name}`);
      }
    }
    let vmlinux = opts.vmlinux;
    const only = opts.programs ? new Set(opts.programs) : undefined;
    for (const p of obj.programs) {
      if (only && !only.has(p.name)) continue;
      if (!obj.littleEndian) {
        out.programs[p.name] = probeError(undefined, 'big-endian object: this host cannot load it');
        continue;
      }
      if (p.unknownSection) {
        out.programs[p.name] = probeError(
          undefined,
          `section "${p.section}" names no program type libbpf knows: the loader would choose one`,
        );
        continue;
      }
      const needsBtf = p.attachBtf !== undefined || p.kfuncs.length > 0 || p.core.length > 0 || opts.targets?.[p.name] !== undefined;
      if (needsBtf && !vmlinux) {
        try {
          vmlinux = loadVmlinuxBtf();
        } catch (e) {
          out.programs[p.name] = unsupported(
            undefined,
            `vmlinux BTF unreadable (${(e as Error).message}); CONFIG_DEBUG_INFO_BTF=y is required`,
          );
          continue;
        }
      }
      out.programs[p.name] = loadProgram(p, obj, fds, out.maps, vmlinux, opts);
    }
  } finally {
    for (const fd of fds.values()) fd.close();
  }
  return out;
}

// libbpf's marker for a CO-RE relocation that did not resolve: a call to helper 0xbad2310, which the
// verifier refuses ("invalid func unknown#195896080") if, and only if, it reaches it.
const POISON = 0xbad2310;

/** Patch one CO-RE relocation into little-endian linked code (libbpf's bpf_core_patch_insn). */
function applyCore(insns: Uint8Array, r: ProgramCoreRelo, vmlinux: Btf, modules: Btf[]): string | undefined {
  const view = new DataView(insns.buffer);
  const at = r.insn * 8;
  const code = insns[at]!;
  const cls = code & 7;
  const res = resolveCore(r.kind, r.spec, vmlinux, modules);
  const poison = (): void => {
    insns[at] = 0x85;
    insns[at + 1] = 0;
    view.setInt16(at + 2, 0, true);
    view.setInt32(at + 4, POISON, true);
    if (code === 0x18) {
      insns[at + 8] = 0x85;
      insns[at + 9] = 0;
      view.setInt16(at + 10, 0, true);
      view.setInt32(at + 12, POISON, true);
    }
  };
  if (!res.ok) {
    if (res.reason === 'ambiguous') return res.detail;
    poison();
    return undefined;
  }
  const value = res.value;
  if (cls === 4 || cls === 7) {
    if ((code & 0x08) !== 0) return `CO-RE relocation on instruction ${r.insn}: an ALU instruction without an immediate`;
    view.setInt32(at + 4, Number(BigInt.asIntN(32, value)), true);
  } else if (cls === 1 || cls === 2 || cls === 3) {
    if (value > 0x7fffn) return `CO-RE relocation on instruction ${r.insn}: offset ${value} does not fit a memory instruction`;
    view.setInt16(at + 2, Number(value), true);
    if (r.kind === 'field_byte_offset' && r.localSize !== undefined) {
      const size = resolveCore('field_byte_size', r.spec, vmlinux, modules);
      if (size.ok && Number(size.value) !== r.localSize) {
        // A field of another width in this kernel: libbpf resizes loads of it, and gives up on stores.
        const bytes = { 1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18 }[Number(size.value)];
        if (cls !== 1 || bytes === undefined) {
          poison();
          return undefined;
        }
        insns[at] = (code & ~0x18) | bytes;
      }
    }
  } else if (code === 0x18) {
    view.setUint32(at + 4, Number(BigInt.asUintN(64, value) & 0xffffffffn), true);
    view.setUint32(at + 12, Number(BigInt.asUintN(64, value) >> 32n), true);
  } else {
    return `CO-RE relocation on instruction ${r.insn} (opcode 0x${code.toString(16)}): not an instruction libbpf patches`;
  }
  return undefined;
}

function loadProgram(
  p: BpfProgramSpec,
  obj: BpfObject,
  fds: Map<string, OwnedFd>,
  maps: ResultMap,
  vmlinux: Btf | undefined,
  opts: LoadOptions,
): ProbeResult {
  const license = obj.license;
  const tokenFd = opts.tokenFd;
  const insns = new Uint8Array(p.linked.insns);
  const view = new DataView(insns.buffer);
  if (p.core.length) {
    if (!vmlinux) return unsupported(undefined, "CO-RE relocations need the kernel's BTF, and vmlinux BTF is unreadable");
    for (const r of p.core) {
      const why = applyCore(insns, r, vmlinux, opts.modules ?? []);
      if (why) return unsupported(undefined, `libbpf refuses: ${why}`);
    }
  }
  for (const r of p.linked.relocs) {
    const at = r.insn * 8;
    if (r.kind === 'map' || r.kind === 'map-value') {
      const fd = fds.get(r.target);
      if (!fd) {
        const m = maps[r.target];
        if (!m) return probeError(undefined, `map ${r.target} is not defined in the object`);
        return { ...m, detail: `needs map ${r.target}: ${m.detail ?? m.status}` };
      }
      insns[at + 1] = (insns[at + 1]! & 0x0f) | ((r.kind === 'map' ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE) << 4);
      view.setInt32(at + 4, fd.fd, true);
      view.setInt32(at + 12, r.kind === 'map-value' ? (r.offset ?? 0) : 0, true);
    } else if (r.kind === 'kfunc') {
      const id = vmlinux?.findId(BtfKind.FUNC, r.target);
      if (id === undefined) return unsupported(undefined, `kfunc ${r.target} is not in vmlinux BTF`);
      insns[at + 1] = (insns[at + 1]! & 0x0f) | (BPF_PSEUDO_KFUNC_CALL << 4);
      view.setInt32(at + 4, id, true);
      view.setInt16(at + 2, 0, true);
    } else if (r.kind === 'subprog') {
      // Already linked: the call points at the appended function.
      if (r.textOffset === undefined) return probeError(undefined, `call to ${r.target}: not into .text, bpfready's loader cannot link it`);
    } else {
      return probeError(undefined, `${r.kind} relocation to ${r.target}: bpfready's loader does not resolve typed ksyms`);
    }
  }
  let attachBtfId: number | undefined;
  const chosen = opts.targets?.[p.name];
  const btfTarget =
    p.attachBtf ??
    (chosen && p.progType !== 'ext' && BTF_PREFIX[p.progType]
      ? { name: `${p.attachType === 'lsm_mac' ? 'bpf_lsm_' : ''}${chosen}`, kind: 'func' as const }
      : undefined);
  if (btfTarget) {
    attachBtfId = vmlinux?.findId(btfTarget.kind === 'func' ? BtfKind.FUNC : BtfKind.TYPEDEF, btfTarget.name);
    if (attachBtfId === undefined) return unsupported(undefined, `attach target ${btfTarget.kind} ${btfTarget.name} is not in vmlinux BTF`);
  } else if (p.runtimeTarget && p.progType !== 'kprobe') {
    return probeError(undefined, `the attach target of ${p.section} is chosen at run time and none was given`);
  }
  const progType = PROG_TYPE_NAMES.indexOf(p.progType);
  const attach = p.attachType ? ATTACH_TYPE_NAMES.indexOf(p.attachType) : 0;
  const spec: ProgLoadSpec = {
    progType,
    insns,
    license,
    logLevel: 0,
    expectedAttachType: attach,
    progFlags: (p.sleepable ? BPF_F_SLEEPABLE : 0) | (p.xdpFrags ? BPF_F_XDP_HAS_FRAGS : 0),
    ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    ...(tokenFd !== undefined ? { tokenFd } : {}),
    ...(p.progType === 'kprobe' ? { kernVersion: kernelVersionCode() } : {}),
    name: p.name.slice(0, 15),
  };
  // As libbpf: without a log first (a large program's log outgrows any buffer: ENOSPC), then again
  // with one to say why it failed.
  let r = progLoad(spec);
  if (!r.ok) {
    const again = progLoad({ ...spec, logLevel: 1 });
    if (again.ok) again.fd.close();
    else if (again.errno === r.errno) r = again;
    else if (again.errno === ENOSPC)
      r = { ...r, log: `${again.log.trim().split('\n').slice(-3).join('\n')}\n(verifier log longer than bpfready's buffer)` };
  }
  if (r.ok) {
    if (opts.onLoaded) opts.onLoaded(p, r.fd);
    else r.fd.close();
    return supported();
  }
  // The verifier ran and refused the program (its log says why): the kernel knows the type but will not
  // take this object as compiled. That is the object's verdict on this node, not a permission question.
  if ((r.errno === EACCES || r.errno === EINVAL) && r.log.trim()) {
    const last = r.log
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('processed ') && !l.startsWith('verification time'))
      .at(-1);
    return unsupported(errnoName(r.errno), `verifier: ${last ?? r.log.slice(0, 200)}`);
  }
  const res = interpretCreate({ ok: false, errno: r.errno, log: r.log }, `program ${p.name} (${p.progType})`);
  return res.status === 'not-permitted' ? notPermitted(res.errno ?? 'EPERM', res.detail) : res;
}
