// Kernel tests need root (bpf(), mounts, namespaces). CI runs as root, so there they always run;
// elsewhere they are skipped with a printed reason, never silently.
import { geteuid } from 'node:process';

export const isRoot = geteuid?.() === 0;

export function rootOnly(what: string): boolean {
  if (!isRoot) {
    const msg = `SKIP ${what}: needs root (bpf(), mounts and namespaces of the real kernel); CI runs as root`;
    console.warn(msg);
    if (process.env.CI) throw new Error(`${msg} — but CI=true, and CI must run kernel tests`);
  }
  return !isRoot;
}
