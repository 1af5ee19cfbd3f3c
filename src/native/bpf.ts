// Thin, typed wrappers over bpf(2). Each wrapper builds a zeroed attr sized to the last field it
// sets (attr.ts), makes exactly one system call, and returns either an owned fd or the errno (plus
// the verifier log for loads). No interpretation happens here: that is probes/interpret.ts's job.
import {
  BTF_LOAD,
  encodeAttr,
  LINK_CREATE,
  MAP_CREATE,
  OBJ_GET_INFO_BY_FD,
  PROG_LOAD,
  RAW_TRACEPOINT_OPEN,
  TOKEN_CREATE,
  type AttrValues,
  type Layout,
} from './attr.ts';
import { encode, type Insn } from './insn.ts';
import { addressOf, closeFd, closeFdLater, syscallBuf, SYS_bpf, type SysResult } from './libc.ts';

export const BpfCmd = {
  MAP_CREATE: 0,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_ATTACH: 8,
  PROG_DETACH: 9,
  PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  LINK_CREATE: 28,
  ITER_CREATE: 33,
  PROG_BIND_MAP: 35,
  TOKEN_CREATE: 36,
} as const;

/** BPF_F_TOKEN_FD: the same bit in map_flags, prog_flags and btf_flags (uapi since 6.9). */
export const BPF_F_TOKEN_FD = 1 << 16;
export { BPF_F_SLEEPABLE } from './uapi.ts';
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;
export const BPF_F_NO_PREALLOC = 1;
export const BPF_F_MMAPABLE = 1 << 10;

let openFds = 0;
/** Number of fds this process opened through the gateway and has not closed yet (leak tests). */
export function liveFdCount(): number {
  return openFds;
}

/** A file descriptor we own. Closed exactly once, by close() or a `using` declaration. */
export class OwnedFd implements Disposable {
  readonly fd: number;
  #open = true;
  constructor(fd: number) {
    this.fd = fd;
    openFds++;
  }
  get open(): boolean {
    return this.#open;
  }
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    openFds--;
    closeFd(this.fd);
  }
  /**
   * Close on a libuv pool thread (libc.ts closeFdLater): the fd is ours no more at once, and counted
   * open (liveFdCount) until the kernel has closed it, when the promise resolves.
   */
  closeLater(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    this.#open = false;
    return closeFdLater(this.fd).then(() => {
      openFds--;
    });
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

export type FdResult = { ok: true; fd: OwnedFd } | { ok: false; errno: number };
export type LoadResult = { ok: true; fd: OwnedFd; log: string } | { ok: false; errno: number; log: string };

export function bpf<L extends Layout>(cmd: number, layout: L, values: AttrValues<L>): SysResult {
  const { buf, size } = encodeAttr(layout, values);
  return syscallBuf(SYS_bpf, cmd, buf, size);
}

/** bpf() with a caller-owned attr buffer, for commands whose attr the kernel writes back. */
export function bpfRaw(cmd: number, attr: Uint8Array, size: number): SysResult {
  return syscallBuf(SYS_bpf, cmd, attr, size);
}

function fdResult(r: SysResult): FdResult {
  return r.ok ? { ok: true, fd: new OwnedFd(r.value) } : r;
}

export type MapCreateAttr = AttrValues<typeof MAP_CREATE>;

/** BPF_MAP_CREATE; with `tokenFd`, through that token (map_token_fd + BPF_F_TOKEN_FD), as progLoad/btfLoad. */
export function mapCreate(attr: MapCreateAttr, opts: { tokenFd?: number } = {}): FdResult {
  if (opts.tokenFd === undefined) return fdResult(bpf(BpfCmd.MAP_CREATE, MAP_CREATE, attr));
  const flags = Number(attr.map_flags ?? 0) | BPF_F_TOKEN_FD;
  return fdResult(bpf(BpfCmd.MAP_CREATE, MAP_CREATE, { ...attr, map_flags: flags, map_token_fd: opts.tokenFd }));
}

// One log buffer per thread, reused: probes run thousands of loads and the kernel writes the log
// only on the paths we care about. 64 KiB holds any log of the few-instruction probe programs.
const LOG_SIZE = 64 * 1024;
const logBuf = new Uint8Array(LOG_SIZE);
const logAddr = addressOf(logBuf);
const decoder = new TextDecoder();

function readLog(): string {
  const end = logBuf.indexOf(0);
  return decoder.decode(logBuf.subarray(0, end < 0 ? LOG_SIZE : end));
}

const licenses = new Map<string, { buf: Uint8Array; addr: bigint }>();
function cString(s: string): { buf: Uint8Array; addr: bigint } {
  let c = licenses.get(s);
  if (!c) {
    const buf = new TextEncoder().encode(`${s}\0`);
    c = { buf, addr: addressOf(buf) };
    licenses.set(s, c);
  }
  return c;
}

export interface ProgLoadSpec {
  progType: number;
  insns: readonly Insn[] | Uint8Array;
  license?: string;
  /** Verifier log level; 0 = no log. Loads that need interpretation ask for level 1. */
  logLevel?: number;
  expectedAttachType?: number;
  progFlags?: number;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  attachProgFd?: number;
  kernVersion?: number;
  progBtfFd?: number;
  funcInfo?: Uint8Array;
  funcInfoCnt?: number;
  fdArray?: Int32Array;
  tokenFd?: number;
  name?: string;
}

const PROG_LOAD_ATTEMPTS = 5;
const EAGAIN_ERRNO = 11;

export function progLoad(spec: ProgLoadSpec): LoadResult {
  return new ProgLoader(spec).load();
}

/**
 * A PROG_LOAD attr encoded once and reused for many loads that differ only in their instructions
 * (the helper matrix makes thousands). Re-encoding the attr per load cost more than the kernel's
 * own work for a failing load.
 */
export class ProgLoader {
  readonly #attr: Uint8Array;
  readonly #view: DataView;
  readonly #size: number;
  readonly #logLevel: number;
  readonly #keep: unknown[];

  constructor(spec: ProgLoadSpec) {
    const insns = spec.insns instanceof Uint8Array ? spec.insns : encode(spec.insns);
    const { buf, size } = buildProgLoadAttr(spec, insns);
    this.#attr = buf;
    this.#view = new DataView(buf.buffer);
    this.#size = size;
    this.#logLevel = spec.logLevel ?? 0;
    // The kernel reads these through pointers in the attr: keep them alive as long as we are.
    this.#keep = [insns, spec.funcInfo, spec.fdArray, cString(spec.license ?? 'GPL').buf];
  }

  /** Load the program; `insns` (already encoded) replaces the spec's instructions for this call. */
  load(insns?: Uint8Array, logLevel = this.#logLevel): LoadResult {
    const v = this.#view;
    if (insns) {
      v.setUint32(PROG_LOAD.insn_cnt[0], insns.length / 8, true);
      v.setBigUint64(PROG_LOAD.insns[0], addressOf(insns), true);
    }
    if (logLevel > 0) {
      logBuf[0] = 0;
      v.setUint32(PROG_LOAD.log_level[0], logLevel, true);
      v.setUint32(PROG_LOAD.log_size[0], LOG_SIZE, true);
      v.setBigUint64(PROG_LOAD.log_buf[0], logAddr, true);
    } else {
      v.setUint32(PROG_LOAD.log_level[0], 0, true);
      v.setUint32(PROG_LOAD.log_size[0], 0, true);
      v.setBigUint64(PROG_LOAD.log_buf[0], 0n, true);
    }
    // EAGAIN from PROG_LOAD is the kernel's "try again" (docs/kernel-notes.md): up to 5 attempts,
    // as libbpf makes, before it is reported as transient.
    let r = syscallBuf(SYS_bpf, BpfCmd.PROG_LOAD, this.#attr, this.#size);
    for (let i = 1; i < PROG_LOAD_ATTEMPTS && !r.ok && r.errno === EAGAIN_ERRNO; i++) {
      if (logLevel > 0) logBuf[0] = 0;
      r = syscallBuf(SYS_bpf, BpfCmd.PROG_LOAD, this.#attr, this.#size);
    }
    void this.#keep;
    if (r.ok) return { ok: true, fd: new OwnedFd(r.value), log: logLevel > 0 ? readLog() : '' };
    return { ok: false, errno: r.errno, log: logLevel > 0 ? readLog() : '' };
  }
}

function buildProgLoadAttr(spec: ProgLoadSpec, insns: Uint8Array): { buf: Uint8Array; size: number } {
  const license = cString(spec.license ?? 'GPL');
  const attr: AttrValues<typeof PROG_LOAD> = {
    prog_type: spec.progType,
    insn_cnt: insns.length / 8,
    insns: addressOf(insns),
    license: license.addr,
  };
  if (spec.kernVersion) attr.kern_version = spec.kernVersion;
  let flags = spec.progFlags ?? 0;
  if (spec.tokenFd !== undefined) flags |= BPF_F_TOKEN_FD;
  if (flags) attr.prog_flags = flags;
  if (spec.name) attr.prog_name = spec.name;
  if (spec.expectedAttachType) attr.expected_attach_type = spec.expectedAttachType;
  if (spec.progBtfFd !== undefined) attr.prog_btf_fd = spec.progBtfFd;
  if (spec.funcInfo) {
    attr.func_info_rec_size = 8;
    attr.func_info = addressOf(spec.funcInfo);
    attr.func_info_cnt = spec.funcInfoCnt ?? spec.funcInfo.length / 8;
  }
  if (spec.attachBtfId) attr.attach_btf_id = spec.attachBtfId;
  const attachFd = spec.attachProgFd ?? spec.attachBtfObjFd;
  if (attachFd !== undefined) attr.attach_prog_fd = attachFd;
  if (spec.fdArray) attr.fd_array = addressOf(new Uint8Array(spec.fdArray.buffer, spec.fdArray.byteOffset, spec.fdArray.byteLength));
  if (spec.tokenFd !== undefined) attr.prog_token_fd = spec.tokenFd;
  // The log fields are always part of the attr so load() can switch the log on and off in place.
  attr.log_buf ??= 0n;
  return encodeAttr(PROG_LOAD, attr);
}

export function btfLoad(blob: Uint8Array, opts: { logLevel?: number; tokenFd?: number } = {}): LoadResult {
  const attr: AttrValues<typeof BTF_LOAD> = { btf: addressOf(blob), btf_size: blob.length };
  if (opts.logLevel) {
    logBuf[0] = 0;
    attr.btf_log_buf = logAddr;
    attr.btf_log_size = LOG_SIZE;
    attr.btf_log_level = opts.logLevel;
  }
  if (opts.tokenFd !== undefined) {
    attr.btf_flags = BPF_F_TOKEN_FD;
    attr.btf_token_fd = opts.tokenFd;
  }
  const r = bpf(BpfCmd.BTF_LOAD, BTF_LOAD, attr);
  const log = opts.logLevel ? readLog() : '';
  void blob.length;
  return r.ok ? { ok: true, fd: new OwnedFd(r.value), log } : { ok: false, errno: r.errno, log };
}

export function tokenCreate(bpffsFd: number): FdResult {
  return fdResult(bpf(BpfCmd.TOKEN_CREATE, TOKEN_CREATE, { flags: 0, bpffs_fd: bpffsFd }));
}

export function linkCreate(attr: AttrValues<typeof LINK_CREATE>): FdResult {
  return fdResult(bpf(BpfCmd.LINK_CREATE, LINK_CREATE, attr));
}

export function rawTracepointOpen(progFd: number, name?: string): FdResult {
  const s = name === undefined ? undefined : cString(name);
  const r = bpf(BpfCmd.RAW_TRACEPOINT_OPEN, RAW_TRACEPOINT_OPEN, { name: s?.addr ?? 0n, prog_fd: progFd });
  return fdResult(r);
}

/** BPF_OBJ_GET_INFO_BY_FD into a buffer of the caller's struct size; returns bytes the kernel wrote. */
export function objGetInfo(fd: number, info: Uint8Array): SysResult {
  const attr = encodeAttr(OBJ_GET_INFO_BY_FD, { bpf_fd: fd, info_len: info.length, info: addressOf(info) });
  const r = bpfRaw(BpfCmd.OBJ_GET_INFO_BY_FD, attr.buf, attr.size);
  if (!r.ok) return r;
  return { ok: true, value: new DataView(attr.buf.buffer).getUint32(4, true) };
}
