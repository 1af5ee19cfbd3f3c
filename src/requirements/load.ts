// A minimal loader for the objects elf-bpf.ts reads: create every map, patch map, global-data and kfunc
// relocations, load every program with its type, expected attach type, flags and BTF attach target.
// It is the ground truth the requirement check is measured against ("does this object actually load
// here?"), and what the least-privilege verification runs under dropped capabilities or a token.
// Deliberately not libbpf: no CO-RE, no subprogram linking, no attaching; objects that need those are
// reported as `error` (the loader cannot say), never as loaded or rejected.
import { loadVmlinuxBtf, BtfKind, type Btf } from '../kernel/btf.ts';
import type { BpfObject, BpfProgramSpec } from '../kernel/elf-bpf.ts';
import { BPF_F_SLEEPABLE, BPF_F_TOKEN_FD, BPF_F_XDP_HAS_FRAGS, mapCreate, progLoad, type OwnedFd } from '../native/bpf.ts';
import { errnoName } from '../native/libc.ts';
import { ATTACH_TYPE_NAMES, MAP_TYPE_NAMES, PROG_TYPE_NAMES } from '../native/uapi-names.ts';
import { interpretCreate, EACCES, EINVAL } from '../probes/interpret.ts';
import { notPermitted, probeError, supported, unsupported, type ProbeResult, type ResultMap } from '../probes/result.ts';

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
  /** vmlinux BTF for attach targets and kfuncs (default: the running kernel's). */
  vmlinux?: Btf;
}

export function loadObject(obj: BpfObject, opts: LoadOptions = {}): LoadOutcome {
  const out: LoadOutcome = { maps: {}, programs: {} };
  const fds = new Map<string, OwnedFd>();
  try {
    for (const m of obj.maps) {
      const r = mapCreate({
        map_type: MAP_TYPE_NAMES.indexOf(m.type),
        key_size: m.keySize,
        value_size: m.valueSize,
        max_entries: m.maxEntries,
        map_flags: m.flags | (opts.tokenFd !== undefined ? BPF_F_TOKEN_FD : 0),
        ...(opts.tokenFd !== undefined ? { map_token_fd: opts.tokenFd } : {}),
      });
      if (r.ok) fds.set(m.name, r.fd);
      out.maps[m.name] = r.ok ? supported() : interpretCreate({ ok: false, errno: r.errno }, `map ${m.name} (${m.type})`);
    }
    let vmlinux = opts.vmlinux;
    for (const p of obj.programs) {
      if (!obj.littleEndian) {
        out.programs[p.name] = probeError(undefined, 'big-endian object: this host cannot load it');
        continue;
      }
      const needsBtf = p.attachBtf !== undefined || p.kfuncs.length > 0;
      if (needsBtf && !vmlinux) {
        try {
          vmlinux = loadVmlinuxBtf();
        } catch (e) {
          out.programs[p.name] = unsupported(undefined, `vmlinux BTF unreadable (${(e as Error).message}); CONFIG_DEBUG_INFO_BTF=y is required`);
          continue;
        }
      }
      out.programs[p.name] = loadProgram(p, obj.license, fds, out.maps, vmlinux, opts.tokenFd);
    }
  } finally {
    for (const fd of fds.values()) fd.close();
  }
  return out;
}

function loadProgram(
  p: BpfProgramSpec, license: string, fds: Map<string, OwnedFd>, maps: ResultMap, vmlinux: Btf | undefined, tokenFd: number | undefined,
): ProbeResult {
  const insns = new Uint8Array(p.insns);
  const view = new DataView(insns.buffer);
  for (const r of p.relocs) {
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
      view.setInt32(at + 12, r.kind === 'map-value' ? r.offset ?? 0 : 0, true);
    } else if (r.kind === 'kfunc') {
      const id = vmlinux?.findId(BtfKind.FUNC, r.target);
      if (id === undefined) return unsupported(undefined, `kfunc ${r.target} is not in vmlinux BTF`);
      insns[at + 1] = (insns[at + 1]! & 0x0f) | (BPF_PSEUDO_KFUNC_CALL << 4);
      view.setInt32(at + 4, id, true);
      view.setInt16(at + 2, 0, true);
    } else {
      return probeError(undefined, `${r.kind} relocation to ${r.target}: bpfready's loader does not link ${r.kind === 'subprog' ? 'subprograms' : 'typed ksyms'}`);
    }
  }
  let attachBtfId: number | undefined;
  if (p.attachBtf) {
    attachBtfId = vmlinux?.findId(p.attachBtf.kind === 'func' ? BtfKind.FUNC : BtfKind.TYPEDEF, p.attachBtf.name);
    if (attachBtfId === undefined) return unsupported(undefined, `attach target ${p.attachBtf.kind} ${p.attachBtf.name} is not in vmlinux BTF`);
  }
  const progType = PROG_TYPE_NAMES.indexOf(p.progType);
  const attach = p.attachType ? ATTACH_TYPE_NAMES.indexOf(p.attachType) : 0;
  const r = progLoad({
    progType,
    insns,
    license,
    logLevel: 1,
    expectedAttachType: attach,
    progFlags: (p.sleepable ? BPF_F_SLEEPABLE : 0) | (p.xdpFrags ? BPF_F_XDP_HAS_FRAGS : 0),
    ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    ...(tokenFd !== undefined ? { tokenFd } : {}),
    name: p.name.slice(0, 15),
  });
  if (r.ok) {
    r.fd.close();
    return supported();
  }
  // The verifier ran and refused the program (its log says why): the kernel knows the type but will not
  // take this object as compiled. That is the object's verdict on this node, not a permission question.
  if ((r.errno === EACCES || r.errno === EINVAL) && r.log.trim()) {
    const last = r.log.trim().split('\n').filter((l) => !l.startsWith('processed ') && !l.startsWith('verification time')).at(-1);
    return unsupported(errnoName(r.errno), `verifier: ${last ?? r.log.slice(0, 200)}`);
  }
  const res = interpretCreate({ ok: false, errno: r.errno, log: r.log }, `program ${p.name} (${p.progType})`);
  return res.status === 'not-permitted' ? notPermitted(res.errno ?? 'EPERM', res.detail) : res;
}
