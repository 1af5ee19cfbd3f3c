// What the attach probes need to know about the node before they try anything: the kernel config,
// the perf PMUs, the process's capabilities, the active LSMs, where tracefs and cgroup2 are. Thin
// readers only; each returns undefined when the source is absent so a probe can say "unknown".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readMountinfoLenient } from '../kernel/mountinfo.ts';

export type ConfigState = 'y' | 'm' | 'unset' | 'unknown';

/**
 * Minimal kernel-config lookup for the attach probes (src/kernel/kconfig.ts is the full reader).
 * Sources in the kernel's own order of trust: /proc/config.gz is the running kernel's; the /boot
 * and /lib/modules copies are taken only for this release, never another kernel's config.
 */
export function readKernelConfig(hostRoot = '/', rel = release()): Map<string, string> | undefined {
  const candidates: [string, boolean][] = [
    [join(hostRoot, 'proc/config.gz'), true],
    [join(hostRoot, 'boot', `config-${rel}`), false],
    [join(hostRoot, 'lib/modules', rel, 'config'), false],
  ];
  for (const [path, gz] of candidates) {
    let text: string;
    try {
      const raw = readFileSync(path);
      text = (gz ? gunzipSync(raw) : raw).toString('utf8');
    } catch {
      continue;
    }
    const out = new Map<string, string>();
    for (const line of text.split('\n')) {
      const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
      if (set) out.set(set[1]!, set[2]!);
      const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
      if (unset) out.set(unset[1]!, 'n');
    }
    return out;
  }
  return undefined;
}

export function configState(config: Map<string, string> | undefined, name: string): ConfigState {
  if (!config) return 'unknown';
  const v = config.get(name);
  if (v === 'y' || v === 'm') return v;
  return 'unset';
}

/** Effective capability bits from /proc/self/status (CapEff, hex). */
export function effectiveCaps(): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

export const CAP_NET_ADMIN = 12;
export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

export function hasCap(caps: bigint | undefined, cap: number): boolean {
  return caps !== undefined && ((caps >> BigInt(cap)) & 1n) === 1n;
}

/** A perf PMU's dynamic type number (/sys/bus/event_source/devices/<pmu>/type, 4.17+). */
export function pmuType(hostRoot: string, pmu: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(join(hostRoot, 'sys/bus/event_source/devices', pmu, 'type'), 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The config bit that turns a kprobe/uprobe PMU event into a return probe ("config:0" → 0). */
export function pmuRetprobeBit(hostRoot: string, pmu: string): number | undefined {
  try {
    const text = readFileSync(join(hostRoot, 'sys/bus/event_source/devices', pmu, 'format/retprobe'), 'utf8');
    const m = /^config:(\d+)/.exec(text.trim());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function mounts() {
  try {
    return readMountinfoLenient().entries;
  } catch {
    return [];
  }
}

/** The first cgroup2 mount of our mount namespace. */
export function cgroup2Mount(): string | undefined {
  return mounts().find((m) => m.fsType === 'cgroup2')?.mountPoint;
}

/** tracefs as libbpf/cilium find it: a tracefs mount, or debugfs with a tracing/ directory. */
export function tracefsMount(): string | undefined {
  const all = mounts();
  const t = all.find((m) => m.fsType === 'tracefs' && m.root === '/');
  if (t) return t.mountPoint;
  const d = all.find((m) => m.fsType === 'debugfs' && existsSync(join(m.mountPoint, 'tracing/events')));
  return d ? join(d.mountPoint, 'tracing') : undefined;
}

/**
 * Read <fs root>/<rel> of a pseudo filesystem that is not mounted here (tracefs, securityfs). Their
 * content is global to the kernel, so we mount one in a child process's private mount namespace
 * (`unshare -m`) on a directory we create: the node's mount table never changes, and the mount dies
 * with the child. Returns the text, or why it could not be read.
 */
export function readPrivately(fsType: string, rel: string): { text: string } | { why: string } {
  const dir = mkdtempSync(join(tmpdir(), `bpfready-${fsType}-`));
  try {
    const r = spawnSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t "$1" nodev "$2" && cat "$2/$3"', 'sh', fsType, dir, rel],
      { encoding: 'utf8', timeout: 5000 },
    );
    if (r.status === 0) return { text: r.stdout };
    return { why: (r.stderr || r.error?.message || `unshare exited ${r.status}`).trim() };
  } finally {
    rmdirSync(dir);
  }
}

export interface Observed<T> {
  value: T;
  /** Where it was read: a path, or "securityfs mounted in a private mount namespace". */
  via: string;
}

/**
 * Active LSMs from securityfs. When securityfs is not mounted the list is read through a private
 * mount; if that fails too the answer is the reason (unknown), never an empty list.
 */
export function activeLsms(hostRoot = '/'): Observed<string[]> | string {
  const parse = (t: string) => t.trim().split(',').filter(Boolean);
  const path = join(hostRoot, 'sys/kernel/security/lsm');
  try {
    return { value: parse(readFileSync(path, 'utf8')), via: path };
  } catch {
    const r = readPrivately('securityfs', 'lsm');
    if ('text' in r) return { value: parse(r.text), via: 'securityfs mounted in a private mount namespace' };
    return `securityfs not mounted (${r.why})`;
  }
}

/** The lockdown mode ("none", "integrity", "confidentiality"), read like activeLsms. */
export function lockdownMode(hostRoot = '/'): Observed<string> | string {
  const parse = (t: string) => /\[(\w+)\]/.exec(t)?.[1] ?? 'unknown';
  const path = join(hostRoot, 'sys/kernel/security/lockdown');
  try {
    return { value: parse(readFileSync(path, 'utf8')), via: path };
  } catch {
    const r = readPrivately('securityfs', 'lockdown');
    if ('text' in r) return { value: parse(r.text), via: 'securityfs mounted in a private mount namespace' };
    return `securityfs not mounted or no lockdown LSM (${r.why})`;
  }
}

/** The perf id of tracepoint events/<category>/<name>; ids are global to the running kernel. */
export function tracepointId(category: string, name: string): Observed<number> | string {
  const rel = join('events', category, name, 'id');
  const mounted = tracefsMount();
  let text: string;
  let via: string;
  if (mounted) {
    try {
      text = readFileSync(join(mounted, rel), 'utf8');
      via = join(mounted, rel);
    } catch {
      return `tracepoint ${category}/${name} not found under ${mounted}`;
    }
  } else {
    const r = readPrivately('tracefs', rel);
    if (!('text' in r)) return `tracefs not mounted, and mounting it privately failed: ${r.why}`;
    text = r.text;
    via = 'tracefs mounted in a private mount namespace';
  }
  const id = Number.parseInt(text, 10);
  return Number.isInteger(id) ? { value: id, via } : `${via}: not a tracepoint id: ${text.slice(0, 40)}`;
}
