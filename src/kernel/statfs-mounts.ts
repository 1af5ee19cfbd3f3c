// Filesystems BPF users depend on, recognised by superblock magic (statfs f_type) rather than by a
// directory existing: /sys/fs/bpf and /sys/kernel/tracing exist as empty mount points whether or not
// anything is mounted there. The mount table itself is parsed and read by src/kernel/mountinfo.ts.
import { parseMountinfoLenient, type MountEntry } from './mountinfo.ts';
import { errnoName, statfsMagic } from '../native/libc.ts';
import { hostPath, readHostText } from './hostroot.ts';

/** include/uapi/linux/magic.h */
export const FS_MAGIC = {
  bpf: 0xcafe4a11,
  tracefs: 0x74726163,
  debugfs: 0x64626720,
  securityfs: 0x73636673,
  cgroup: 0x27e0eb,
  cgroup2: 0x63677270,
} as const;
export type WatchedFs = keyof typeof FS_MAGIC;

/** Where each is conventionally mounted, checked by magic even when mountinfo does not list it. */
export const CONVENTIONAL: Record<WatchedFs, string[]> = {
  bpf: ['/sys/fs/bpf'],
  tracefs: ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'],
  debugfs: ['/sys/kernel/debug'],
  securityfs: ['/sys/kernel/security'],
  cgroup: [],
  cgroup2: ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'],
};

export interface VerifiedMount {
  path: string;
  /** Super options from mountinfo (cgroup v1 controllers, bpffs delegate_*), when listed there. */
  options?: Record<string, string | true>;
}

export interface MountsView {
  /** Which mountinfo we read, and lines it could not parse. */
  source: string;
  problems: string[];
  byFs: Record<WatchedFs, VerifiedMount[]>;
  /**
   * Mounts mountinfo lists but whose magic we were not allowed to check (statfs EACCES/EPERM), with
   * why the host root's own view of the path could not confirm it either (`local`).
   */
  denied: Record<WatchedFs, { path: string; errno: string; local?: string }[]>;
}

/**
 * Mounts as the host sees them: with hostRoot '/', our own mount namespace; otherwise the host's pid 1
 * (<hostRoot>/proc/1/mountinfo), whose paths we reach through <hostRoot>/proc/1/root. Where pid 1
 * refuses that (ptrace access, which an LSM can deny even with CAP_SYS_PTRACE), a path under a host
 * directory mounted into the pod (/sys/fs, /sys/kernel: docs/deploy.md) is checked at
 * <hostRoot>/<path>, the same mount seen through the pod's bind of the host's directory.
 */
export function readMounts(hostRoot: string): MountsView {
  const onHost = hostPath(hostRoot, '/') === '/';
  const infoPath = onHost ? '/proc/self/mountinfo' : '/proc/1/mountinfo';
  const resolve = (p: string) => (onHost ? p : hostPath(hostRoot, `/proc/1/root${p}`));
  const problems: string[] = [];
  let entries: MountEntry[] = [];
  const text = readHostText(hostRoot, infoPath);
  if (text.ok) {
    const parsed = parseMountinfoLenient(text.value, text.path);
    entries = parsed.entries;
    problems.push(...parsed.errors.map((e) => e.message));
  } else problems.push(`${text.path}: ${text.code}`);

  const byFs = Object.fromEntries(Object.keys(FS_MAGIC).map((k) => [k, [] as VerifiedMount[]])) as Record<WatchedFs, VerifiedMount[]>;
  const denied = Object.fromEntries(Object.keys(FS_MAGIC).map((k) => [k, [] as { path: string; errno: string }[]])) as MountsView['denied'];
  const seen = new Set<string>();
  const check = (fs: WatchedFs, path: string, options?: Record<string, string | true>) => {
    const key = `${fs}:${path}`;
    if (seen.has(key)) return;
    seen.add(key);
    const r = statfsMagic(resolve(path));
    const found = (): void => void byFs[fs].push(options ? { path, options } : { path });
    if (r.ok && r.value === FS_MAGIC[fs]) found();
    // Refused (through <hostRoot>/proc/1/root without CAP_SYS_PTRACE, say): unknown, not absent.
    else if (!r.ok && (r.errno === 1 || r.errno === 13)) {
      const local = onHost ? undefined : statfsMagic(hostPath(hostRoot, path));
      if (local?.ok && local.value === FS_MAGIC[fs]) found();
      else if (options) {
        const why = !local
          ? undefined
          : local.ok
            ? `${hostPath(hostRoot, path)} is another filesystem`
            : `${hostPath(hostRoot, path)}: ${errnoName(local.errno)}`;
        denied[fs].push({ path, errno: errnoName(r.errno), ...(why ? { local: why } : {}) });
      }
    }
  };
  for (const e of entries) {
    const fs = e.fsType as WatchedFs;
    if (fs in FS_MAGIC) check(fs, e.mountPoint, e.superOptions);
  }
  for (const [fs, paths] of Object.entries(CONVENTIONAL) as [WatchedFs, string[]][]) for (const p of paths) check(fs, p);
  return { source: text.path, problems, byFs, denied };
}
