// Whether we run in the initial namespaces. /proc/<pid>/ns/<type> links read "type:[inode]"; the
// kernel gives the initial user/pid/ipc/uts/cgroup/time namespaces fixed inode numbers
// (include/linux/proc_ns.h PROC_*_INIT_INO, since 3.8/4.6/5.6), so those need no comparison. mnt and
// net have none: we compare with the host's pid 1, which inside a container is <hostRoot>/proc/1.
import { readlinkSync } from 'node:fs';
import { hostPath } from './hostroot.ts';

export const NAMESPACE_TYPES = ['user', 'pid', 'cgroup', 'mnt', 'net', 'ipc', 'uts'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

const INIT_INO: Partial<Record<NamespaceType, number>> = {
  ipc: 0xefffffff,
  uts: 0xeffffffe,
  user: 0xeffffffd,
  pid: 0xeffffffc,
  cgroup: 0xeffffffb,
};

const LINK = /^([a-z_]+):\[(\d+)\]$/;

/** "net:[4026531840]" → 4026531840; undefined if it is not an ns link. */
export function parseNsLink(link: string): number | undefined {
  const m = LINK.exec(link);
  return m ? Number(m[2]) : undefined;
}

export type NsRead = { ok: true; inode: number } | { ok: false; code: string; path: string };

function readNs(path: string): NsRead {
  try {
    const ino = parseNsLink(readlinkSync(path));
    return ino === undefined ? { ok: false, code: 'EINVAL', path } : { ok: true, inode: ino };
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO', path };
  }
}

export interface NamespaceState {
  type: NamespaceType;
  self: NsRead;
  /** The host's pid 1, under the host root. */
  init: NsRead;
  /** true/false when known; undefined when neither the fixed inode nor pid 1 could decide. */
  isInit?: boolean;
  how?: 'fixed-inode' | 'pid1';
}

export function readNamespaces(hostRoot: string): NamespaceState[] {
  return NAMESPACE_TYPES.map((type) => {
    const self = readNs(`/proc/self/ns/${type}`);
    const init = readNs(hostPath(hostRoot, `/proc/1/ns/${type}`));
    const state: NamespaceState = { type, self, init };
    const fixed = INIT_INO[type];
    if (self.ok && fixed !== undefined) {
      state.isInit = self.inode === fixed;
      state.how = 'fixed-inode';
    } else if (self.ok && init.ok) {
      state.isInit = self.inode === init.inode;
      state.how = 'pid1';
    }
    return state;
  });
}
