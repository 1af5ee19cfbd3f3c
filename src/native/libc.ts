// The only module that imports koffi. Everything that crosses into native code goes through the few
// functions declared here; callers get numbers and Buffers back, never koffi objects.
import koffi from 'koffi';
import { fstatSync } from 'node:fs';
import { arch } from 'node:process';
import { ERRNO_NAMES } from './errno-table.ts';

const libc = koffi.load('libc.so.6');

// syscall(2) is variadic in C; on the Linux ABIs we support (x86_64, aarch64) integer and pointer
// arguments of a variadic call travel in the same registers as fixed ones, so fixed prototypes per
// call shape are exact and avoid koffi's slower variadic path.
const sysPtr = libc.func('long syscall(long nr, long a1, _Inout_ uint8_t *a2, unsigned long a3)');
const sysPtrPtr = libc.func('long syscall(long nr, _Inout_ uint8_t *a1, long a2, long a3, long a4, unsigned long a5)');
const sysLongs = libc.func('long syscall(long nr, long a1, long a2, long a3, long a4, long a5)');
const cClose = libc.func('int close(int fd)');
const cOpen = libc.func('int open(const char *path, int flags, int mode)');
const cIoctl = libc.func('int ioctl(int fd, unsigned long req, long arg)');
const cStatfs = libc.func('int statfs(const char *path, _Out_ uint8_t *buf)');
const cGetpagesize = libc.func('int getpagesize(void)');

/** Syscall numbers of the architectures we run on (arch/<arch>/entry/syscalls). */
const SYSCALLS: Record<string, { bpf: number; perfEventOpen: number; capget: number; capset: number; unshare: number; setns: number }> = {
  x64: { bpf: 321, perfEventOpen: 298, capget: 125, capset: 126, unshare: 272, setns: 308 },
  arm64: { bpf: 280, perfEventOpen: 241, capget: 90, capset: 91, unshare: 97, setns: 268 },
};

const nrs = SYSCALLS[arch];
if (!nrs) throw new Error(`bpfready: unsupported CPU architecture ${arch} (supported: x64, arm64)`);
export const SYS_bpf = nrs.bpf;
export const SYS_perf_event_open = nrs.perfEventOpen;
/** unshare(2) acts on the calling thread: the network attach probes call it from a worker thread. */
export const SYS_unshare = nrs.unshare;
/** setns(2), like unshare, moves only the calling thread: the host network namespace is entered from a worker. */
export const SYS_setns = nrs.setns;
const SYS_capget = nrs.capget;
const SYS_capset = nrs.capset;

export const O_RDONLY = 0;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;

/** Outcome of one system call: a non-negative return value, or the errno it failed with. */
export type SysResult = { ok: true; value: number } | { ok: false; errno: number };

function result(ret: number | bigint): SysResult {
  const value = Number(ret);
  // errno is meaningful only when the call failed; reading it on success would report a stale value.
  if (value < 0) return { ok: false, errno: koffi.errno() };
  return { ok: true, value };
}

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E#${errno}`;
}

/** syscall(nr, a1, buf, size): the shape of bpf(cmd, attr, size). */
export function syscallBuf(nr: number, a1: number, buf: Uint8Array, size: number): SysResult {
  return result(sysPtr(nr, a1, buf, size));
}

/** syscall(nr, buf, a2, a3, a4, a5): the shape of perf_event_open(attr, pid, cpu, group, flags). */
export function syscallBufFirst(nr: number, buf: Uint8Array, a2: number, a3: number, a4: number, a5: number): SysResult {
  return result(sysPtrPtr(nr, buf, a2, a3, a4, a5));
}

export function syscallLongs(nr: number, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0): SysResult {
  return result(sysLongs(nr, a1, a2, a3, a4, a5));
}

export function closeFd(fd: number): SysResult {
  return result(cClose(fd));
}

/**
 * close(2) on one of libuv's pool threads (a koffi async call): closing a link or perf event fd runs
 * the kernel's detach, which waits for RCU grace periods (tens of ms for a uprobe or a tracepoint,
 * docs/probes.md#attach-section), and this lets the calling thread go on meanwhile. Resolves once the
 * fd is closed. errno is not reported: it lives on the pool thread, and a close(2) of an fd we own
 * has nothing to say that a caller could act on (closeFd's callers ignore it too).
 */
export function closeFdLater(fd: number): Promise<{ ok: boolean }> {
  return new Promise((resolve) => {
    cClose.async(fd, (err: unknown, ret: number) => resolve({ ok: !err && ret === 0 }));
  });
}

export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 2;

/**
 * mount(2) and umount2(2). A mount acts in the calling thread's mount namespace: the attach section's
 * worker thread mounts tracefs and securityfs only after unshare(CLONE_NEWNS) and making every mount
 * private, so nothing reaches the node (src/attach/netns-worker.ts). Bound on first use.
 */
export function mount(source: string, target: string, fsType: string | null, flags: number): SysResult {
  cMount ??= libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
  return result(cMount(source, target, fsType, flags, null));
}
export function umount2(target: string, flags: number): SysResult {
  cUmount2 ??= libc.func('int umount2(const char *target, int flags)');
  return result(cUmount2(target, flags));
}
let cMount: ((source: string, target: string, fsType: string | null, flags: number, data: null) => number) | undefined;
let cUmount2: ((target: string, flags: number) => number) | undefined;

export function openPath(path: string, flags: number): SysResult {
  return result(cOpen(path, flags | O_CLOEXEC, 0));
}

export function ioctl(fd: number, req: number, arg: number): SysResult {
  return result(cIoctl(fd, req, arg));
}

/** A file mapped read-only: its bytes, valid until unmap() (idempotent). */
export interface FileMapping {
  readonly bytes: Uint8Array;
  unmap(): void;
}

/**
 * A sysfs binary file mapped read-only and private with one mmap(2), where read(2) returns a page
 * per call (/sys/kernel/btf/vmlinux: ~1,350 reads, 6–10 ms, against ~1 ms here; the kernel maps
 * vmlinux BTF read-only and private since 6.16). The pages are the kernel's own: they are not
 * charged to this process's RSS. undefined when the file cannot be mapped (older kernels, other
 * filesystems): the caller reads it instead. After unmap() any view of the bytes still reachable
 * would fault the process: the caller must keep every view to itself and drop them first.
 */
export function mapFile(path: string, size: number): FileMapping | undefined {
  if (!(size > 0)) return undefined;
  // sysfs only: its binary files do not shrink under us, where a regular file truncated between the
  // stat and a read of the mapping would kill the process with SIGBUS.
  const fsType = statfsMagic(path);
  if (!fsType.ok || fsType.value !== SYSFS_MAGIC) return undefined;
  if (cMmap === undefined) {
    cMmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
    cMunmap = libc.func('int munmap(void *addr, size_t len)');
  }
  const fd = Number(cOpen(path, O_RDONLY | O_CLOEXEC, 0));
  if (fd < 0) return undefined;
  try {
    if (fstatSync(fd).size !== size) return undefined;
    const PROT_READ = 1;
    const MAP_PRIVATE = 2;
    const addr = cMmap(null, size, PROT_READ, MAP_PRIVATE, fd, 0);
    // MAP_FAILED is (void *)-1; koffi hands a pointer back as an opaque object, or null.
    if (addr === null || koffi.address(addr) === 0xffffffffffffffffn) return undefined;
    let mapped = true;
    return {
      bytes: new Uint8Array(koffi.view(addr, size)),
      unmap() {
        if (mapped) cMunmap!(addr, size);
        mapped = false;
      },
    };
  } finally {
    cClose(fd);
  }
}

const SYSFS_MAGIC = 0x62656572;
let cMmap: ((addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown) | undefined;
let cMunmap: ((addr: unknown, len: number) => number) | undefined;

/**
 * Lift RLIMIT_MEMLOCK as far as we may (to infinity with CAP_SYS_RESOURCE, else to the hard limit),
 * as bpftool does: before 5.11 every map and program is charged to it, and the default 64 KiB makes
 * loads fail with EPERM, which would read as "not permitted". Newer kernels charge memory cgroups
 * and ignore it. Returns the soft limit in force afterwards (bytes; -1 = infinity), or undefined.
 */
export function raiseMemlockLimit(): number | undefined {
  const RLIMIT_MEMLOCK = 8; // x86_64 and arm64 (asm-generic/resource.h)
  const INFINITY = 0xffffffffffffffffn;
  cGetrlimit ??= libc.func('int getrlimit(int resource, _Out_ uint8_t *rlim)');
  cSetrlimit ??= libc.func('int setrlimit(int resource, const uint8_t *rlim)');
  const buf = new Uint8Array(16);
  const v = new DataView(buf.buffer);
  if (cGetrlimit(RLIMIT_MEMLOCK, buf) !== 0) return undefined;
  const soft = v.getBigUint64(0, true);
  const hard = v.getBigUint64(8, true);
  const asNumber = (x: bigint): number => (x === INFINITY ? -1 : Number(x));
  if (soft === INFINITY) return -1;
  for (const target of [INFINITY, hard]) {
    if (target !== INFINITY && target <= soft) break;
    v.setBigUint64(0, target, true);
    v.setBigUint64(8, target === INFINITY ? INFINITY : hard, true);
    if (cSetrlimit(RLIMIT_MEMLOCK, buf) === 0) return asNumber(target);
  }
  return asNumber(soft);
}
let cGetrlimit: ((resource: number, rlim: Uint8Array) => number) | undefined;
let cSetrlimit: ((resource: number, rlim: Uint8Array) => number) | undefined;

/** statfs(2); returns f_type (the superblock magic) of the filesystem holding path. */
export function statfsMagic(path: string): SysResult {
  const buf = new Uint8Array(120); // sizeof(struct statfs) on 64-bit Linux
  const r = result(cStatfs(path, buf));
  if (!r.ok) return r;
  // f_type is the first field (__fsword_t, 8 bytes on 64-bit); magics fit in 32 bits.
  return { ok: true, value: new DataView(buf.buffer).getUint32(0, true) };
}

export const PAGE_SIZE: number = cGetpagesize();

/**
 * Give free malloc memory back to the kernel (glibc's malloc_trim(3) with no padding: every arena,
 * free pages inside the heap too). Returns whether any memory was released; false, always, where
 * the C library has no malloc_trim (bound on first use, so its absence costs only this).
 */
export function mallocTrim(): boolean {
  if (cMallocTrim === undefined) {
    try {
      cMallocTrim = libc.func('int malloc_trim(size_t pad)');
    } catch {
      cMallocTrim = null;
    }
  }
  return cMallocTrim !== null && cMallocTrim(0) === 1;
}
let cMallocTrim: ((pad: number) => number) | null | undefined;

/** The address of a Buffer's memory, for pointer fields inside bpf_attr. */
export function addressOf(buf: Uint8Array): bigint {
  return BigInt(koffi.address(buf));
}

// capget/capset act on the calling thread only (credentials are per thread in Linux), which is what
// lets a test drop a capability from the probing thread and restore it afterwards.
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const sysCap = libc.func('long syscall(long nr, _Inout_ uint8_t *hdr, _Inout_ uint8_t *data)');

export interface ThreadCaps {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

export function capget(): ThreadCaps | { errno: number } {
  const hdr = new Uint8Array(8);
  const data = new Uint8Array(24);
  new DataView(hdr.buffer).setUint32(0, LINUX_CAPABILITY_VERSION_3, true);
  const r = result(sysCap(SYS_capget, hdr, data));
  if (!r.ok) return { errno: r.errno };
  const v = new DataView(data.buffer);
  // struct __user_cap_data_struct[2] = {effective, permitted, inheritable} for bits 0-31, then 32-63.
  const pick = (field: number) => BigInt(v.getUint32(field * 4, true)) | (BigInt(v.getUint32(12 + field * 4, true)) << 32n);
  return { effective: pick(0), permitted: pick(1), inheritable: pick(2) };
}

export function capset(caps: ThreadCaps): SysResult {
  const hdr = new Uint8Array(8);
  const data = new Uint8Array(24);
  new DataView(hdr.buffer).setUint32(0, LINUX_CAPABILITY_VERSION_3, true);
  const v = new DataView(data.buffer);
  [caps.effective, caps.permitted, caps.inheritable].forEach((mask, field) => {
    v.setUint32(field * 4, Number(mask & 0xffffffffn), true);
    v.setUint32(12 + field * 4, Number(mask >> 32n), true);
  });
  return result(sysCap(SYS_capset, hdr, data));
}
