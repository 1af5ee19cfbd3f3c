// The kernel build's identity (docs/kubernetes.md "Reports for bpfready nodes"): the sha256 of its
// vmlinux BTF, which every change of the kernel's types or functions changes; without BTF, of its
// release, version and machine. Apart from saved-view.ts (the kernel view's collector) so that the
// daemon names its build without loading the collector, and hashes the BTF file in small reads
// instead of holding its ~6 MiB (docs/daemon.md, "Memory after the first publish").
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { ProbeReport } from '../contract/report.ts';

export type KernelIdentity = Pick<ProbeReport, 'kernel'>;

const fallback = (report: KernelIdentity): string => `${report.kernel.release}\n${report.kernel.version}\n${report.kernel.machine}`;

/** The digest of a build whose vmlinux BTF is `btf` (undefined: the kernel has none, or it is unreadable). */
export function kernelBuildDigest(report: KernelIdentity, btf: Uint8Array | undefined): string {
  return `sha256:${createHash('sha256')
    .update(btf ?? fallback(report))
    .digest('hex')}`;
}

/** kernelBuildDigest() of the kernel under `hostRoot`, read in 64 KiB pieces. */
export function runningBuildDigest(hostRoot: string, report: KernelIdentity): string {
  let hash: Hash | undefined;
  try {
    hash = hashFile(join(hostRoot, 'sys/kernel/btf/vmlinux'));
  } catch {
    hash = undefined;
  }
  return `sha256:${(hash ?? createHash('sha256').update(fallback(report))).digest('hex')}`;
}

function hashFile(path: string): Hash {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const chunk = Buffer.allocUnsafe(64 << 10);
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
    return hash;
  } finally {
    closeSync(fd);
  }
}
