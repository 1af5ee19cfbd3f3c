// In a DaemonSet the node's /proc, /sys, /boot and /lib/modules are mounted under a host root (e.g.
// /host); on a plain host the root is '/'. Every system-fact reader resolves its paths here, and
// reports a missing or unreadable file as data (the errno code) rather than throwing, because a
// missing file is usually the fact itself ("securityfs not mounted", "no /proc/config.gz").
import { readFileSync, readdirSync } from 'node:fs';
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
