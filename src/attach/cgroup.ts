// cgroup attach: a CGROUP_SKB program linked to a fresh, empty cgroup of our own. No task is ever in
// that cgroup, so no packet passes the program; the link is closed and the cgroup removed at once.
// In a pod the cgroup filesystem is read-only (no new cgroup can be made): then the program —
// which lets every packet pass — is linked to the cgroup we run in ourselves, our own pod's, for
// the moment of the probe. Nothing outside our own process sees it.
import { mkdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Fact } from '../contract/report.ts';
import { linkCreate, OwnedFd, progLoad } from '../native/bpf.ts';
import { exit, mov64Imm } from '../native/insn.ts';
import { errnoName, O_DIRECTORY, O_RDONLY, openPath } from '../native/libc.ts';
import { probeError, supported } from '../contract/result.ts';
import { missingOption, PROG_NAME, type AttachContext } from './context.ts';
import { cgroup2Mount } from './env.ts';
import { attachFailure } from './outcome.ts';
import { attachType, progType } from '../native/uapi.ts';

const PROG_CGROUP_SKB = progType('cgroup_skb');
const BPF_CGROUP_INET_INGRESS = attachType('cgroup_inet_ingress');
// cgroup_skb returns 1 to let a packet pass; nothing will ever pass, but the program says so anyway.
const ALLOW = [mov64Imm(0, 1), exit()];

export function probeCgroup(ctx: AttachContext): Fact {
  const root = cgroup2Mount();
  if (!root) return probeError(undefined, 'no cgroup2 mount in this mount namespace');
  const load = progLoad({
    name: PROG_NAME,
    progType: PROG_CGROUP_SKB,
    insns: ALLOW,
    expectedAttachType: BPF_CGROUP_INET_INGRESS,
    logLevel: 1,
  });
  if (!load.ok)
    return attachFailure(load.errno, {
      step: 'PROG_LOAD(cgroup_skb)',
      needs: ['CAP_BPF', 'CAP_NET_ADMIN'],
      missing: missingOption(ctx, 'CONFIG_CGROUP_BPF'),
    });
  using prog = load.fd;
  const dir = join(root, `bpfready-probe-${process.pid}-${Date.now().toString(36)}`);
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM')
      return probeError(code, `cannot create a probe cgroup under ${root}: ${code}`);
    return linkToOwnCgroup(ctx, prog, root, code);
  }
  try {
    const open = openPath(dir, O_RDONLY | O_DIRECTORY);
    if (!open.ok) return probeError(errnoName(open.errno), `cannot open ${dir}`);
    using cg = new OwnedFd(open.value);
    const link = linkCreate({ prog_fd: prog.fd, target_fd: cg.fd, attach_type: BPF_CGROUP_INET_INGRESS });
    if (!link.ok) {
      return attachFailure(link.errno, {
        step: 'LINK_CREATE(BPF_CGROUP_INET_INGRESS) on an empty cgroup',
        needs: ['CAP_NET_ADMIN'],
        missing: missingOption(ctx, 'CONFIG_CGROUP_BPF'),
      });
    }
    link.fd.close();
    return supported(`cgroup_skb linked to an empty cgroup under ${root}, detached and the cgroup removed`);
  } finally {
    rmdirSync(dir);
  }
}

/** Our own cgroup: the root of this cgroup namespace, which in a container is the container's. */
function linkToOwnCgroup(ctx: AttachContext, prog: OwnedFd, root: string, why: string): Fact {
  const own = ownCgroupDir(root);
  // Never the root cgroup of the initial cgroup namespace: that is every process on the node.
  if (own === root && inInitialCgroupNamespace()) {
    return probeError(why, `cannot create a probe cgroup under ${root} (${why}), and our own cgroup is the node's root cgroup: not probed`);
  }
  const open = openPath(own, O_RDONLY | O_DIRECTORY);
  if (!open.ok)
    return probeError(errnoName(open.errno), `cannot create a probe cgroup under ${root} (${why}) nor open our own cgroup ${own}`);
  using cg = new OwnedFd(open.value);
  const link = linkCreate({ prog_fd: prog.fd, target_fd: cg.fd, attach_type: BPF_CGROUP_INET_INGRESS });
  if (!link.ok) {
    return attachFailure(link.errno, {
      step: `LINK_CREATE(BPF_CGROUP_INET_INGRESS) on our own cgroup ${own}`,
      needs: ['CAP_NET_ADMIN'],
      missing: missingOption(ctx, 'CONFIG_CGROUP_BPF'),
    });
  }
  link.fd.close();
  return supported(
    `${root} is not writable (${why}): a pass-all cgroup_skb program was linked to our own cgroup ${own} and detached at once`,
  );
}

// The initial cgroup namespace's inode number is fixed (include/linux/proc_ns.h PROC_CGROUP_INIT_INO).
const PROC_CGROUP_INIT_INO = 0xeffffffb;
function inInitialCgroupNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/cgroup') === `cgroup:[${PROC_CGROUP_INIT_INO}]`;
  } catch {
    return true; // unknown: assume the worst and do not touch our cgroup
  }
}

/** The directory of the cgroup we run in: <cgroup2 mount>/<path from /proc/self/cgroup's "0::" line>. */
function ownCgroupDir(root: string): string {
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    const rel = line?.slice(3) ?? '/';
    // In a cgroup namespace the path is relative to its root, which is the mount's root.
    return rel === '/' ? root : join(root, rel);
  } catch {
    return root;
  }
}
