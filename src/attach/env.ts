// What the attach probes need to know about the node before they try anything: the kernel config,
// the perf PMUs, our capabilities, the active LSMs and lockdown, where tracefs and cgroup2 are. The
// parsers live in src/kernel/; this module adds the attach-specific reads: PMU files, and reading
// tracefs or securityfs through a private mount when the node has not mounted them.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKernelConfig as readKconfig } from '../kernel/kconfig.ts';
import { readMounts } from '../kernel/statfs-mounts.ts';
import { readEffectiveCapabilities } from '../kernel/procstatus.ts';
import { parseLockdown, parseLsmList, securityfsState } from '../kernel/security.ts';

export { CAP, hasCap } from '../kernel/procstatus.ts';

export type ConfigState = 'y' | 'm' | 'unset' | 'unknown';

/**
 * The running kernel's config (src/kernel/kconfig.ts: /proc/config.gz, then this release's /boot and
 * /lib/modules copies), keyed without the CONFIG_ prefix; undefined when none is readable or it is
 * malformed, which makes every option "unknown" rather than "unset".
 */
export function kernelConfig(hostRoot = '/', rel = release()): Map<string, string> | undefined {
  try {
    const r = readKconfig(hostRoot, rel);
    return r.ok ? r.config.values : undefined;
  } catch {
    return undefined;
  }
}

export function configState(config: Map<string, string> | undefined, option: string): ConfigState {
  if (!config) return 'unknown';
  const v = config.get(option.replace(/^CONFIG_/, ''));
  return v === 'y' || v === 'm' ? v : 'unset';
}

/** Effective capabilities of this process, or undefined when /proc/self/status is unreadable. */
export function effectiveCaps(): bigint | undefined {
  try {
    return readEffectiveCapabilities();
  } catch {
    return undefined;
  }
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

/**
 * Why the PMU directory itself cannot be listed, if it cannot: then "no PMU" is not a fact of the
 * kernel. In a pod it means the host's /sys/bus/event_source (and /sys/devices, where its entries
 * link to) are not mounted under the host root (docs/deploy.md).
 */
export function pmuDirProblem(hostRoot: string): string | undefined {
  const dir = join(hostRoot, 'sys/bus/event_source/devices');
  try {
    readdirSync(dir);
    return undefined;
  } catch (e) {
    return `${dir}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}${hostRoot === '/' ? '' : " (the host's /sys/bus/event_source and /sys/devices must be mounted under the host root)"}`;
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

// Our own mount namespace: the probes act from it (mkdir a cgroup, read a tracepoint id).
export const cgroup2Mount = (): string | undefined => readMounts('/').byFs.cgroup2[0]?.path;
const tracefsMount = (): string | undefined => readMounts('/').byFs.tracefs[0]?.path;

/**
 * Read <fs root>/<rel> of a pseudo filesystem that is not mounted here (tracefs, securityfs). Their
 * content is global to the kernel, so we mount one in a child process's private mount namespace
 * (`unshare -m`) on a directory we create: the node's mount table never changes, and the mount dies
 * with the child. Returns the text, or why it could not be read.
 */
export function readPrivately(fsType: string, rel: string): { text: string } | { why: string } {
  const dir = mkdtempSync(join(tmpdir(), `bpfready-${fsType}-`));
  try {
    const r = spawnSync('unshare', privateReadArgs(fsType, dir, rel), { encoding: 'utf8', timeout: PRIVATE_READ_TIMEOUT_MS });
    if (r.status === 0) return { text: r.stdout };
    return { why: (r.stderr || r.error?.message || `unshare exited ${r.status}`).trim() };
  } finally {
    rmdirSync(dir);
  }
}

/** How the attach probes read a file through a private mount: readPrivatelyAsync, or the section's own. */
export type PrivateRead = (fsType: string, rel: string) => Promise<{ text: string } | { why: string }>;

/** A private read's key where reads are kept by file (netns-worker.ts). */
export const privateReadKey = (fsType: string, rel: string): string => `${fsType}:${rel}`;

/**
 * readPrivately() without blocking the thread: the child's four programs (unshare, sh, mount, cat)
 * take ~30 ms, which the attach section's other lanes use. The same answer, the same reasons.
 */
export function readPrivatelyAsync(fsType: string, rel: string): Promise<{ text: string } | { why: string }> {
  const dir = mkdtempSync(join(tmpdir(), `bpfready-${fsType}-`));
  return new Promise<{ text: string } | { why: string }>((resolve) => {
    const child = spawn('unshare', privateReadArgs(fsType, dir, rel), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let error: string | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      error = 'spawn unshare ETIMEDOUT';
      child.kill('SIGTERM');
    }, PRIVATE_READ_TIMEOUT_MS);
    const done = (status: number | null): void => {
      clearTimeout(timer);
      resolve(status === 0 && error === undefined ? { text: stdout } : { why: (stderr || error || `unshare exited ${status}`).trim() });
    };
    child.once('error', (e) => {
      error ??= e.message;
      // A child that never started has no 'close' to wait for.
      if (child.pid === undefined) done(null);
    });
    child.once('close', (code) => done(code));
  }).finally(() => rmdirSync(dir));
}

const PRIVATE_READ_TIMEOUT_MS = 5000;
const privateReadArgs = (fsType: string, dir: string, rel: string): string[] => [
  '-m',
  '--propagation',
  'private',
  'sh',
  '-c',
  'mount -t "$1" nodev "$2" && cat "$2/$3"',
  'sh',
  fsType,
  dir,
  rel,
];

export interface Observed<T> {
  value: T;
  /** Where it was read: a path, or "securityfs mounted in a private mount namespace". */
  via: string;
}

/** A securityfs file, through the node's securityfs (checked by magic) or a private mount of it. */
async function readSecurityfs<T>(
  hostRoot: string,
  file: string,
  parse: (text: string, input: string) => T,
  read: PrivateRead,
): Promise<Observed<T> | string> {
  const state = securityfsState(hostRoot);
  try {
    if (state.mounted) {
      const path = join(state.path, file);
      return { value: parse(readFileSync(path, 'utf8'), path), via: path };
    }
    const r = await read('securityfs', file);
    if ('text' in r) return { value: parse(r.text, `securityfs ${file}`), via: 'securityfs mounted in a private mount namespace' };
    return `${state.reason}; a private mount failed too (${r.why})`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Active LSMs; when they cannot be read the answer is the reason (unknown), never an empty list. */
export const activeLsms = (hostRoot = '/', read: PrivateRead = readPrivatelyAsync): Promise<Observed<string[]> | string> =>
  readSecurityfs(hostRoot, 'lsm', parseLsmList, read);

/** The lockdown mode; absent when the lockdown LSM is not active. */
export const lockdownMode = (hostRoot = '/', read: PrivateRead = readPrivatelyAsync): Promise<Observed<string> | string> =>
  readSecurityfs(hostRoot, 'lockdown', (t, input) => parseLockdown(t, input).mode, read);

/**
 * What the attach probes would read through a private mount here: the probe tracepoint's id when
 * tracefs is not mounted, lockdown and the LSM list when securityfs is not (the worker thread of
 * netns.ts reads them ahead).
 */
export function privateReadsNeeded(hostRoot: string, tracepoint: { category: string; name: string }): [fsType: string, rel: string][] {
  const reads: [string, string][] = [];
  if (!tracefsMount()) reads.push(['tracefs', tracepointRel(tracepoint.category, tracepoint.name)]);
  if (!securityfsState(hostRoot).mounted) reads.push(['securityfs', 'lockdown'], ['securityfs', 'lsm']);
  return reads;
}

/** The perf id of tracepoint events/<category>/<name>; ids are global to the running kernel. */
export function tracepointId(category: string, name: string): Observed<number> | string {
  const rel = tracepointRel(category, name);
  return mountedTracepointId(category, name, rel) ?? privateTracepointId(readPrivately('tracefs', rel));
}

/** tracepointId() with the private tracefs mount, when it is needed, off the thread (readPrivatelyAsync). */
export async function tracepointIdAsync(
  category: string,
  name: string,
  read: PrivateRead = readPrivatelyAsync,
): Promise<Observed<number> | string> {
  const rel = tracepointRel(category, name);
  return mountedTracepointId(category, name, rel) ?? privateTracepointId(await read('tracefs', rel));
}

const tracepointRel = (category: string, name: string): string => join('events', category, name, 'id');

/** Through the node's tracefs; undefined when none is mounted here. */
function mountedTracepointId(category: string, name: string, rel: string): Observed<number> | string | undefined {
  const mounted = tracefsMount();
  if (!mounted) return undefined;
  const via = join(mounted, rel);
  let text: string;
  try {
    text = readFileSync(via, 'utf8');
  } catch {
    return `tracepoint ${category}/${name} not found under ${mounted}`;
  }
  return parseTracepointId(text, via);
}

function privateTracepointId(r: { text: string } | { why: string }): Observed<number> | string {
  if (!('text' in r)) return `tracefs not mounted, and mounting it privately failed: ${r.why}`;
  return parseTracepointId(r.text, 'tracefs mounted in a private mount namespace');
}

function parseTracepointId(text: string, via: string): Observed<number> | string {
  const id = Number.parseInt(text, 10);
  return Number.isInteger(id) ? { value: id, via } : `${via}: not a tracepoint id: ${text.slice(0, 40)}`;
}
