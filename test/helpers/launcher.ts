// The node flags bin/bpfready gives serve and daemon, read from the launcher (the one place they are
// set), for tests and benchmarks that run code under the daemon's runtime without the launcher.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const LAUNCHER = join(import.meta.dirname, '../../bin/bpfready');
/** The pinned Node runtime (node_modules/node), the one the launcher prefers. */
export const PINNED_NODE = join(import.meta.dirname, '../../node_modules/node/bin/node');

export function daemonNodeFlags(): string[] {
  const launcher = readFileSync(LAUNCHER, 'utf8');
  const common = /^flags="([^"$]+)"$/m.exec(launcher);
  const m = /^\s*flags="\$flags ([^"]+)"$/m.exec(launcher);
  if (!common || !m) throw new Error('bin/bpfready: no flags lines found');
  return [...common[1]!.split(/\s+/), ...m[1]!.split(/\s+/)];
}
