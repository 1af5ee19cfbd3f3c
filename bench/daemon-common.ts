// Shared by the daemon benchmarks: start the real `bpfready serve` binary and read /proc about it.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { start, type Running } from '../test/e2e/process.ts';
const CLK_TCK = 100; // USER_HZ on every Linux ABI we run on (x86_64, arm64).

/** `bpfready serve` on an ephemeral loopback port (stderr is passed through). */
export async function serve(args: string[] = []): Promise<Running> {
  const r = await start('serve', ['--log-level', 'info', ...args]);
  r.child.stderr?.pipe(process.stderr);
  return r;
}

export async function waitReady(url: string, pollMs = 5): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {}
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

export function rssBytes(pid: number | 'self'): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

/** CPU seconds (user + system) the process has used. */
/** Private (anonymous) resident memory: RSS without the file-backed pages of the node binary and libraries. */
export function rssAnonBytes(pid: number | 'self'): number {
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 once pid and comm are dropped.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function fdCount(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const percentile = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? NaN;
export const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The node flags bin/bpfready gives serve and daemon (read from the launcher, the one place they are
 * set), so that in-process benchmarks measure the daemon's runtime, not a default node.
 */
export function daemonNodeFlags(): string[] {
  const launcher = readFileSync(join(import.meta.dirname, '../bin/bpfready'), 'utf8');
  const m = /^\s*flags="\$flags ([^"]+)"$/m.exec(launcher);
  if (!m) throw new Error('bin/bpfready: no serve/daemon flags line found');
  return m[1]!.split(/\s+/);
}

/** Run this script again under the daemon's node flags (and MALLOC_ARENA_MAX) unless it already is. */
export function reexecWithDaemonFlags(): void {
  const flags = daemonNodeFlags();
  if (flags.every((f) => process.execArgv.includes(f))) return;
  const r = spawnSync(process.execPath, [...flags, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: process.env['MALLOC_ARENA_MAX'] ?? '2' },
  });
  process.exit(r.status ?? 1);
}

export function requireRoot(): void {
  if (process.geteuid?.() !== 0) {
    console.warn('this benchmark probes the kernel and needs root; run it as root');
    process.exit(2);
  }
}
