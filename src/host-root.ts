// The host root (--host-root, hostRoot): where the host's / is mounted, /host in the DaemonSet.
// Checked once by every command that reads host files under it; its own module so that `probe`
// does not import the configuration loader to check one path.
import { statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Why `dir` cannot be where the host's / is mounted, or undefined. Every host fact is read under it:
 * a wrong one (a typo, a missing hostPath mount) would otherwise read as a kernel without BTF,
 * config or sysctls, and be published as such.
 */
export function hostRootProblem(dir: string): string | undefined {
  if (!dir.startsWith('/')) return 'must be an absolute path';
  for (const sub of ['', 'proc', 'sys']) {
    const path = join(dir, sub);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch (e) {
      return `${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)} (the host's / must be mounted there, with its /proc and /sys)`;
    }
    if (!isDir) return `${path} is not a directory (the host's / must be mounted there, with its /proc and /sys)`;
  }
  return undefined;
}
