// In a DaemonSet the node's /proc, /sys, /boot and /lib/modules are mounted under a host root (e.g.
// /host); on a plain host the root is '/'. Every system-fact reader resolves its paths here, and
// reports a missing or unreadable file as data (the errno code) rather than throwing, because a
// missing file is usually the fact itself ("securityfs not mounted", "no /proc/config.gz").
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DEFAULT_HOST_ROOT = '/';

export function hostPath(hostRoot: string, path: string): string {
  return join(hostRoot, path);
}

export type ReadResult<T> = { ok: true; value: T; path: string } | { ok: false; code: string; path: string };

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

export function readHostFile(hostRoot: string, path: string): ReadResult<Buffer> {
  const full = hostPath(hostRoot, path);
  try {
    return { ok: true, value: readFileSync(full), path: full };
  } catch (e) {
    return { ok: false, code: errCode(e), path: full };
  }
}

export function readHostText(hostRoot: string, path: string): ReadResult<string> {
  const r = readHostFile(hostRoot, path);
  return r.ok ? { ok: true, value: r.value.toString('utf8'), path: r.path } : r;
}

export function listHostDir(hostRoot: string, path: string): ReadResult<string[]> {
  const full = hostPath(hostRoot, path);
  try {
    return { ok: true, value: readdirSync(full).sort(), path: full };
  } catch (e) {
    return { ok: false, code: errCode(e), path: full };
  }
}

// The host root itself (--host-root, hostRoot) is checked once by every command that reads under it:
// here, not in src/config.ts, so that `probe` does not load the configuration to check one path.
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
export function hostRootSetting(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { hostRoot: string; source: string } {
  if (flag !== undefined) return { hostRoot: flag, source: '--host-root' };
  const fromEnv = env['BPFREADY_HOST_ROOT'];
  if (fromEnv) return { hostRoot: fromEnv, source: 'BPFREADY_HOST_ROOT' };
  return { hostRoot: '/', source: 'default' };
}
