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

/**
 * The host root a one-shot command (`probe`, `check`) uses: --host-root, else BPFREADY_HOST_ROOT (as
 * for serve and daemon, docs/config.md), else '/'. `source` names where it came from, for the error
 * line. A pod's `kubectl exec … bpfready probe` thereby describes the node, as the daemon does.
 * Read here rather than through src/config.ts, so that these commands do not load the config schema.
 */
export function hostRootSetting(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): { hostRoot: string; source: string } {
  if (flag !== undefined) return { hostRoot: flag, source: '--host-root' };
  const fromEnv = env['BPFREADY_HOST_ROOT'];
  if (fromEnv) return { hostRoot: fromEnv, source: 'BPFREADY_HOST_ROOT' };
  return { hostRoot: '/', source: 'default' };
}
