// The real image for the in-pod tests: built (or found by its content hash) by scripts/image/build.sh,
// run with podman and runc as the chart's DaemonSet runs it (test/container/pod.ts).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot } from '../helpers/root.ts';

export const REPO = join(import.meta.dirname, '../..');
export const CONTAINERS_CONF = join(REPO, 'scripts/image/containers.conf');
const env = { ...process.env, CONTAINERS_CONF };

const TOOLS = ['podman', 'runc', 'mmdebstrap', 'slirp4netns'] as const;

/** Why the in-pod tests cannot run here, or undefined. Under CI=true a missing tool is a failure, not a skip. */
export function containerSkipReason(): string | undefined {
  let why: string | undefined;
  if (!isRoot) why = "needs root (podman with runc, the chart's capabilities and host mounts)";
  else {
    const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
    if (missing.length) why = `missing ${missing.join(', ')} (scripts/test-setup.sh installs them as root)`;
  }
  if (!why) return undefined;
  const msg = `SKIP test/container (the image, run as the chart runs it): ${why}`;
  console.warn(msg);
  if (process.env['CI']) throw new Error(`${msg} — but CI=true, and CI must run the in-pod tests`);
  return why;
}

/** Build the image if its inputs changed (seconds when nothing did; a few minutes on a fresh machine). */
export function ensureImage(): { image: string; log: string } {
  const r = spawnSync('bash', [join(REPO, 'scripts/image/build.sh')], { env, encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`scripts/image/build.sh failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
  return { image: r.stdout.trim().split('\n').at(-1)!, log: r.stderr.trim() };
}

export function podman(
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('podman', args, {
    env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 180_000,
    maxBuffer: 256 << 20,
    ...(opts.input ? { input: opts.input } : {}),
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function podmanStart(args: string[]): ChildProcess {
  return spawn('podman', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** podman run to its end without blocking this process (an API-server double in it keeps answering). */
export function podmanRun(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = podmanStart(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Remove a container of ours, whatever state it is in. */
export function removeContainer(name: string): void {
  spawnSync('podman', ['rm', '--force', '--time', '0', name], { env, stdio: 'ignore' });
}

/** The host pid of a running container's first process. */
export function containerPid(name: string): number {
  return Number(execFileSync('podman', ['inspect', '--format', '{{.State.Pid}}', name], { env, encoding: 'utf8' }).trim());
}

export interface MemoryMiB {
  rss: number;
  hwm: number;
  /** RssAnon and RssFile: the process's own memory, and the mapped pages of node and its libraries. */
  anon: number;
  file: number;
}

/** VmRSS, VmHWM, RssAnon and RssFile of a process, in MiB. */
export function memoryMiB(pid: number): MemoryMiB {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

/**
 * The most memory the container's cgroup (the daemon and any child it ran, page cache included) has
 * been charged, in MiB: what the chart's memory limit is enforced against. cgroup v2 memory.peak or
 * v1 memory.max_usage_in_bytes; undefined where neither is readable.
 */
export function cgroupPeakMiB(pid: number): number | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    const file =
      controllers === ''
        ? `/sys/fs/cgroup${path}/memory.peak`
        : controllers?.split(',').includes('memory')
          ? `/sys/fs/cgroup/memory${path}/memory.max_usage_in_bytes`
          : undefined;
    if (!file) continue;
    try {
      return Number(readFileSync(file, 'utf8').trim()) / 2 ** 20;
    } catch {}
  }
  return undefined;
}

export const memoryLine = (m: MemoryMiB): string =>
  `VmRSS ${m.rss.toFixed(1)} MiB (${m.anon.toFixed(1)} anonymous, ${m.file.toFixed(1)} file), VmHWM ${m.hwm.toFixed(1)} MiB`;
