// Attach probes for BTF-based tracing: fentry/fexit/fmod_ret and BPF LSM (BPF trampolines), tp_btf
// and raw tracepoints, iterators, and the struct_ops map. Loading proves the verifier knows the
// attach type; only attaching proves the kernel can patch the hook (docs/kernel-notes.md#trampoline, #bpf-lsm).
import { readSync } from 'node:fs';
import type { Fact } from '../contract/report.ts';
import { BtfKind } from '../kernel/btf.ts';
import { ITER_CREATE } from '../native/attr.ts';
import {
  bpf,
  BpfCmd,
  bpfRaw,
  btfLoad,
  linkCreate,
  mapCreate,
  objGetInfo,
  OwnedFd,
  progLoad,
  rawTracepointOpen,
  type FdResult,
} from '../native/bpf.ts';
import { RETURN_ZERO } from '../native/insn.ts';
import { logExcerpt } from '../contract/interpret.ts';
import { probeError, supported, unsupported } from '../contract/result.ts';
import { closeNow, held, type FdCloser } from './closer.ts';
import { missingOption, PROG_NAME, unsetOption, type AttachContext } from './context.ts';
import { activeLsms, CAP, hasCap, lockdownMode } from './env.ts';
import { attachFailure, EINVAL, ENOENT, ENOTSUPP, EPERM } from './outcome.ts';
import { ITER_TARGET, PROBE_TRACEPOINT, STRUCT_OPS_VALUE, TRAMPOLINE_FUNCS } from './targets.ts';
import { attachType, mapType, progType } from '../native/uapi.ts';

const PROG_RAW_TRACEPOINT = progType('raw_tracepoint');
const PROG_TRACING = progType('tracing');
const PROG_LSM = progType('lsm');
const BPF_TRACE_RAW_TP = attachType('trace_raw_tp');
const BPF_TRACE_FENTRY = attachType('trace_fentry');
const BPF_TRACE_ITER = attachType('trace_iter');
const MAP_STRUCT_OPS = mapType('struct_ops');
const TRACING_CAPS = ['CAP_BPF', 'CAP_PERFMON'] as const;

interface TrampolineTarget {
  progType: number;
  attachType: number;
  /** vmlinux FUNCs to attach to (targets.ts): the next one is tried when the verifier rejects a target. */
  funcs: readonly string[];
  /** The config option the first target needs beyond the attach type itself. */
  targetNeeds?: string;
}

export const TRAMPOLINES = {
  fentry: { progType: PROG_TRACING, attachType: BPF_TRACE_FENTRY, funcs: TRAMPOLINE_FUNCS.fentry },
  fexit: { progType: PROG_TRACING, attachType: 25, funcs: TRAMPOLINE_FUNCS.fexit },
  // A `return 0` fmod_ret program lets the original function run with its own result.
  fmod_ret: {
    progType: PROG_TRACING,
    attachType: 26,
    funcs: TRAMPOLINE_FUNCS.fmod_ret,
    targetNeeds: 'CONFIG_FUNCTION_ERROR_INJECTION',
  },
  lsm: { progType: PROG_LSM, attachType: 27, funcs: TRAMPOLINE_FUNCS.lsm },
} as const satisfies Record<string, TrampolineTarget>;

export type TrampolineKey = keyof typeof TRAMPOLINES;

/**
 * Without readable vmlinux BTF we cannot name an attach target. The kernel may still have BTF (a
 * host root without /sys mounted), so this is "could not probe", unless the config says it has none.
 */
function noBtf(ctx: AttachContext): Fact {
  const why = `vmlinux BTF not readable (${ctx.btfMissing ?? 'not loaded'})`;
  const unset = unsetOption(ctx, 'CONFIG_DEBUG_INFO_BTF');
  return unset
    ? unsupported(undefined, `${unset}: BTF-based tracing needs vmlinux BTF`)
    : probeError(undefined, `${why}: cannot name an attach target`);
}

const denials = new WeakMap<AttachContext, Promise<string>>();

/**
 * Why a trampoline program load answered EPERM, from evidence gathered on this node. Learned on a
 * 6.18 PVM guest kernel where root with CAP_BPF and CAP_PERFMON gets EPERM for fentry, fexit,
 * fmod_ret, lsm and freplace loads, with an empty verifier log, for every target and even for none,
 * while tp_btf and iterator programs load: the refusal is a policy of that kernel build (no lockdown
 * notice is logged, lockdown is only "integrity", no BPF LSM program is loaded), not a capability.
 */
export function explainTrampolineEperm(ctx: AttachContext, log: string): Promise<string> {
  let cached = denials.get(ctx);
  if (!cached) denials.set(ctx, (cached = gatherTrampolineEvidence(ctx, log)));
  return cached;
}

async function gatherTrampolineEvidence(ctx: AttachContext, log: string): Promise<string> {
  const facts: string[] = [];
  const caps = ctx.caps ?? 0n;
  const capsOk = hasCap(caps, CAP.SYS_ADMIN) || (hasCap(caps, CAP.BPF) && hasCap(caps, CAP.PERFMON));
  if (!capsOk) return 'CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) are not all effective';
  // Read at once, not one after the other: without a securityfs mount each is a child process.
  const securityfs = Promise.all([lockdownMode(ctx.hostRoot, ctx.privately), activeLsms(ctx.hostRoot, ctx.privately)]);
  facts.push('CAP_BPF and CAP_PERFMON are effective');
  if (!log.trim()) facts.push('the verifier log is empty, so the refusal came before verification');
  // A kernel that reaches the attach checks answers EINVAL ("Tracing programs must provide btf_id")
  // for a missing target; EPERM here means the target was never looked at.
  const untargeted = progLoad({ name: PROG_NAME, progType: PROG_TRACING, insns: RETURN_ZERO, expectedAttachType: BPF_TRACE_FENTRY });
  if (untargeted.ok) untargeted.fd.close();
  const targetIndependent = !untargeted.ok && untargeted.errno === EPERM;
  if (targetIndependent) facts.push('it happens for any target, even none (attach_btf_id 0 gets EPERM, not EINVAL)');
  const tp = ctx.btf?.findId(BtfKind.TYPEDEF, `btf_trace_${PROBE_TRACEPOINT.name}`);
  if (tp !== undefined) {
    const l = progLoad({
      name: PROG_NAME,
      progType: PROG_TRACING,
      insns: RETURN_ZERO,
      expectedAttachType: BPF_TRACE_RAW_TP,
      attachBtfId: tp,
    });
    if (l.ok) {
      l.fd.close();
      facts.push('tp_btf programs, which need no trampoline, load');
    }
  }
  // Counted before the securityfs reads are awaited, as when they were made one after the other:
  // the lsm probe's own program (same lane, docs/probes.md#attach-section) is not loaded yet.
  const lsmProgs = loadedProgramsOfType(PROG_LSM);
  const [lockdown, lsms] = await securityfs;
  if (typeof lockdown !== 'string' && lockdown.value !== 'confidentiality') {
    facts.push(`lockdown is "${lockdown.value}", which does not restrict BPF loads`);
  }
  if (typeof lsms !== 'string') facts.push(`active LSMs: ${lsms.value.join(',')}`);
  if (lsmProgs !== undefined) facts.push(`${lsmProgs} BPF LSM program(s) loaded`);
  const by = lsmProgs ? 'by policy — possibly one of the loaded BPF LSM programs' : 'by a policy of this kernel build';
  const verdict = targetIndependent
    ? `this kernel refuses BPF-trampoline programs (fentry/fexit/fmod_ret/lsm/freplace) ${by}, not for a missing capability`
    : 'permission was denied for this target despite the capabilities';
  return `${verdict} (${facts.join('; ')})`;
}

/**
 * How many loaded programs have this type (PROG_GET_NEXT_ID, PROG_GET_FD_BY_ID, OBJ_GET_INFO_BY_FD;
 * needs CAP_SYS_ADMIN). A BPF LSM program on the bpf_prog_load hook is one way a kernel says EPERM.
 */
export function loadedProgramsOfType(progType: number): number | undefined {
  const PROG_GET_FD_BY_ID = 13;
  // start_id / prog_id at 0, next_id at 4 (written by the kernel), open_flags at 8.
  const attr = new Uint8Array(12);
  const view = new DataView(attr.buffer);
  const info = new Uint8Array(8); // bpf_prog_info up to id; type is at 0
  let count = 0;
  for (let id = 0; ; ) {
    view.setUint32(0, id, true);
    view.setUint32(4, 0, true);
    const next = bpfRaw(BpfCmd.PROG_GET_NEXT_ID, attr, attr.length);
    if (!next.ok) return next.errno === ENOENT ? count : undefined;
    id = view.getUint32(4, true);
    view.setUint32(0, id, true);
    // PROG_GET_FD_BY_ID's last field is prog_id on many kernels: a non-zero next_id is EINVAL there.
    view.setUint32(4, 0, true);
    const fd = bpfRaw(PROG_GET_FD_BY_ID, attr, attr.length);
    if (!fd.ok) continue; // unloaded in between
    using prog = new OwnedFd(fd.value);
    if (objGetInfo(prog.fd, info).ok && new DataView(info.buffer).getUint32(0, true) === progType) count++;
  }
}

/** Attach a loaded tracing/LSM program to its load-time target, the way cilium does (link/tracing.go). */
function attachTracing(progFd: number, attachType: number): FdResult & { method: string } {
  const link = linkCreate({ prog_fd: progFd, target_fd: 0, attach_type: attachType });
  // LINK_CREATE learned tracing programs in 5.11; older kernels only know RAW_TRACEPOINT_OPEN.
  if (link.ok || link.errno !== EINVAL) return { ...link, method: 'LINK_CREATE' };
  return { ...rawTracepointOpen(progFd), method: 'RAW_TRACEPOINT_OPEN' };
}

export async function probeTrampoline(ctx: AttachContext, key: TrampolineKey, closer: FdCloser = closeNow): Promise<Fact> {
  if (!ctx.btf) return noBtf(ctx);
  const t: TrampolineTarget = TRAMPOLINES[key];
  const passedOver: string[] = [];
  for (const [i, func] of t.funcs.entries()) {
    const id = ctx.btf.findId(BtfKind.FUNC, func);
    const more = i + 1 < t.funcs.length;
    if (id === undefined) {
      if (more) continue;
      return probeError(undefined, `attach target ${t.funcs.join(' / ')} is not in vmlinux BTF`);
    }
    const load = progLoad({
      name: PROG_NAME,
      progType: t.progType,
      insns: RETURN_ZERO,
      expectedAttachType: t.attachType,
      attachBtfId: id,
      logLevel: 1,
    });
    if (!load.ok && load.errno === EINVAL && more) {
      const why = [logExcerpt(load.log), i === 0 && t.targetNeeds ? missingOption(ctx, t.targetNeeds) : undefined]
        .filter(Boolean)
        .join('; ');
      passedOver.push(`${func} refused${why ? `: ${why}` : ''}`);
      continue;
    }
    const note = passedOver.length ? ` (${passedOver.join('; ')})` : '';
    const step = `PROG_LOAD(${key} on ${func})${note}`;
    if (!load.ok) {
      const denied = load.errno === EPERM ? await explainTrampolineEperm(ctx, load.log) : undefined;
      const missing = [logExcerpt(load.log), key === 'lsm' ? missingOption(ctx, 'CONFIG_BPF_LSM') : undefined].filter(Boolean).join('; ');
      return attachFailure(load.errno, { step, needs: TRACING_CAPS, ...(denied ? { denied } : {}), ...(missing ? { missing } : {}) });
    }
    using prog = load.fd;
    const link = attachTracing(prog.fd, t.attachType);
    if (!link.ok) {
      // ENOTSUPP: the verifier knows the attach type but the arch cannot build a trampoline
      // (arm64 before 6.0, builds without DYNAMIC_FTRACE_WITH_DIRECT_CALLS; docs/kernel-notes.md#trampoline).
      const missing =
        link.errno === ENOTSUPP
          ? `no BPF trampoline on this kernel (${unsetOption(ctx, 'CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS') ?? 'arch or ftrace support missing'})`
          : undefined;
      return attachFailure(link.errno, {
        step: `${link.method}(${key} on ${func})${note}`,
        needs: TRACING_CAPS,
        ...(missing ? { missing } : {}),
      });
    }
    closer.close(link.fd);
    const attached = `${key} attached to ${func} via ${link.method} and detached at once${note}`;
    return key === 'lsm' ? await lsmEffective(ctx, attached) : supported(attached);
  }
  return probeError(undefined, `no attach target for ${key}`);
}

/**
 * BPF LSM programs load and attach even when "bpf" is missing from the active LSM list, and then
 * never run (bpftrace#2716). Effective = CONFIG_BPF_LSM + "bpf" active + attach works.
 */
async function lsmEffective(ctx: AttachContext, attached: string): Promise<Fact> {
  const lsms = await activeLsms(ctx.hostRoot, ctx.privately);
  if (typeof lsms === 'string') return probeError(undefined, `${attached}, but the active LSM list is unknown: ${lsms}`);
  if (!lsms.value.includes('bpf')) {
    return unsupported(
      undefined,
      `${attached}, but "bpf" is not an active LSM (${lsms.value.join(',')}): programs would never run; add bpf to lsm= or CONFIG_LSM`,
    );
  }
  return supported(`${attached}; bpf is an active LSM`);
}

export function probeTpBtf(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  if (!ctx.btf) return noBtf(ctx);
  const name = `btf_trace_${PROBE_TRACEPOINT.name}`;
  const id = ctx.btf.findId(BtfKind.TYPEDEF, name);
  if (id === undefined) return probeError(undefined, `attach target ${name} is not in vmlinux BTF`);
  const load = progLoad({
    name: PROG_NAME,
    progType: PROG_TRACING,
    insns: RETURN_ZERO,
    expectedAttachType: BPF_TRACE_RAW_TP,
    attachBtfId: id,
    logLevel: 1,
  });
  if (!load.ok) return attachFailure(load.errno, { step: `PROG_LOAD(tp_btf on ${name})`, needs: TRACING_CAPS });
  using prog = load.fd;
  const link = rawTracepointOpen(prog.fd);
  if (!link.ok) return attachFailure(link.errno, { step: 'RAW_TRACEPOINT_OPEN(tp_btf)', needs: TRACING_CAPS });
  closer.close(link.fd);
  return supported(`tp_btf on ${PROBE_TRACEPOINT.name} attached via RAW_TRACEPOINT_OPEN and detached at once`);
}

export function probeRawTracepoint(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  const load = progLoad({ name: PROG_NAME, progType: PROG_RAW_TRACEPOINT, insns: RETURN_ZERO, logLevel: 1 });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(raw_tracepoint)', needs: TRACING_CAPS });
  using prog = load.fd;
  const link = rawTracepointOpen(prog.fd, PROBE_TRACEPOINT.name);
  if (!link.ok) {
    return attachFailure(link.errno, {
      step: `RAW_TRACEPOINT_OPEN(${PROBE_TRACEPOINT.name})`,
      needs: TRACING_CAPS,
      missing: missingOption(ctx, 'CONFIG_TRACEPOINTS'),
    });
  }
  closer.close(link.fd);
  return supported(`raw tracepoint ${PROBE_TRACEPOINT.name} opened and closed`);
}

/** A task iterator: link it, create one iterator fd and read it once (the program prints nothing). */
export function probeIter(ctx: AttachContext, closer: FdCloser = closeNow): Fact {
  if (!ctx.btf) return noBtf(ctx);
  const id = ctx.btf.findId(BtfKind.FUNC, ITER_TARGET);
  if (id === undefined) return probeError(undefined, 'attach target bpf_iter_task is not in vmlinux BTF');
  const load = progLoad({
    name: PROG_NAME,
    progType: PROG_TRACING,
    insns: RETURN_ZERO,
    expectedAttachType: BPF_TRACE_ITER,
    attachBtfId: id,
    logLevel: 1,
  });
  if (!load.ok) return attachFailure(load.errno, { step: 'PROG_LOAD(iter on bpf_iter_task)', needs: TRACING_CAPS });
  using prog = load.fd;
  const link = linkCreate({ prog_fd: prog.fd, attach_type: BPF_TRACE_ITER });
  if (!link.ok) return attachFailure(link.errno, { step: 'LINK_CREATE(BPF_TRACE_ITER)', needs: TRACING_CAPS });
  using linkFd = held(link.fd, closer);
  const it = bpf(BpfCmd.ITER_CREATE, ITER_CREATE, { link_fd: linkFd.fd });
  if (!it.ok) return attachFailure(it.errno, { step: 'ITER_CREATE', needs: TRACING_CAPS });
  using iterFd = held(new OwnedFd(it.value), closer);
  try {
    const n = readSync(iterFd.fd, new Uint8Array(4096));
    return supported(`task iterator linked, created and read once (${n} bytes), then closed`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return probeError(code, `reading the iterator failed: ${String(e)}`);
  }
}

/** BTF with one type, `int` (4 bytes, signed): the smallest blob every BTF-capable kernel accepts. */
function minimalBtf(): Uint8Array {
  const strings = new TextEncoder().encode('\0int\0');
  const types = new DataView(new ArrayBuffer(16));
  types.setUint32(0, 1, true); // name_off "int"
  types.setUint32(4, 1 << 24, true); // kind INT, vlen 0
  types.setUint32(8, 4, true); // size
  types.setUint32(12, (1 << 24) | 32, true); // encoding SIGNED, offset 0, 32 bits
  const blob = new Uint8Array(24 + 16 + strings.length);
  const hdr = new DataView(blob.buffer);
  hdr.setUint16(0, 0xeb9f, true);
  blob[2] = 1; // version
  hdr.setUint32(4, 24, true); // hdr_len
  hdr.setUint32(8, 0, true); // type_off
  hdr.setUint32(12, 16, true); // type_len
  hdr.setUint32(16, 16, true); // str_off
  hdr.setUint32(20, strings.length, true);
  blob.set(new Uint8Array(types.buffer), 24);
  blob.set(strings, 40);
  return blob;
}

/**
 * struct_ops: creating the map with a real vmlinux value type proves the kernel can back it; we stop
 * there: registering a struct_ops (a TCP congestion control) would change the node.
 */
export function probeStructOps(ctx: AttachContext): Fact {
  if (!ctx.btf) return noBtf(ctx);
  const name = STRUCT_OPS_VALUE;
  const id = ctx.btf.findId(BtfKind.STRUCT, name);
  if (id === undefined) {
    return unsupported(
      undefined,
      `${name} is not in vmlinux BTF (${unsetOption(ctx, 'CONFIG_BPF_JIT') ?? 'no struct_ops support or CONFIG_INET unset'})`,
    );
  }
  // map_create insists on a program BTF (btf_fd) for struct_ops maps, even though the value type is
  // the kernel's: a libbpf-built object always has one. Any valid user BTF will do.
  const btf = btfLoad(minimalBtf());
  if (!btf.ok) return attachFailure(btf.errno, { step: 'BTF_LOAD(int)', needs: ['CAP_BPF'] });
  using btfFd = btf.fd;
  const m = mapCreate({
    map_type: MAP_STRUCT_OPS,
    key_size: 4,
    value_size: ctx.btf.typeRef(id),
    max_entries: 1,
    btf_fd: btfFd.fd,
    btf_vmlinux_value_type_id: id,
  });
  if (!m.ok) return attachFailure(m.errno, { step: `MAP_CREATE(struct_ops, ${name})`, needs: ['CAP_BPF'] });
  m.fd.close();
  return supported(`struct_ops map of ${name} created (not registered) and closed`);
}
