// The kernel view, collected in a process of its own (docs/daemon.md, "Memory after the first
// publish"). Collecting it (the BTF minimizer, kallsyms, tracefs: src/requirements/saved-view.ts)
// takes ~100 MiB at its peak, and its modules ~20 MiB for as long as they are loaded; a DaemonSet
// pays whatever the daemon keeps, or once reached, on every node. So the daemon starts
// src/daemon/kernel-view-child.ts with its own node binary and flags (bin/bpfready's, kept by
// src/daemon/launch.ts), which collects and packs the view, writes the packed bytes to its stdout
// and exits: the daemon holds only those bytes (~1.3 MB), until they are written.
//
// The child's stdout: one header line of JSON, then exactly `bytes` bytes of the packed view.
//   {"bpfready":"kernel-view","version":1,"digest":"sha256:…","release":"6.18…","set":"<12 hex>","bytes":N}\n<N bytes>
// A child that exits other than 0, is killed, writes something else or runs past its deadline is an
// error of one line; the report writer retries the view later (src/publish/reports.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { PackedKernelView } from '../publish/packed-view.ts';
import type { KernelIdentity } from '../requirements/build-digest.ts';

export const CHILD_SCRIPT = join(import.meta.dirname, 'kernel-view-child.ts');
const MAGIC = 'kernel-view';
const VERSION = 1;
/** A header line is a few hundred bytes; more without a newline is not ours. */
const MAX_HEADER = 4096;

/** What the child is asked: the host root to read and the kernel it is (report.kernel). */
export interface ChildRequest {
  hostRoot: string;
  kernel: KernelIdentity['kernel'];
}

export interface ViewProcessOptions {
  hostRoot: string;
  /** The node binary and its flags; by default this process's own (under bin/bpfready, the launcher's). */
  execPath?: string;
  execArgv?: readonly string[];
  /** The child's entry file (tests give a double of it). */
  script?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; default 120 s (a qemu guest takes ~20 s). */
  timeoutMs?: number;
  /** More stdout than this is not a kernel view (default 64 MiB; one is ~1.5 MB). */
  maxBytes?: number;
  /** Aborted: the child is killed (the daemon is stopping). */
  signal?: AbortSignal;
}

/** The argv of the child: node, its flags, the entry file, the request. */
export function childCommand(request: ChildRequest, o: Omit<ViewProcessOptions, 'hostRoot'> = {}): { file: string; args: string[] } {
  return {
    file: o.execPath ?? process.execPath,
    args: [...(o.execArgv ?? process.execArgv), o.script ?? CHILD_SCRIPT, JSON.stringify(request)],
  };
}

/** The child's stdout for a packed view. */
export function encodeFrame(p: PackedKernelView): Buffer[] {
  const header = { bpfready: MAGIC, version: VERSION, digest: p.digest, release: p.release, set: p.set, bytes: p.bytes.length };
  return [Buffer.from(`${JSON.stringify(header)}\n`), Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength)];
}

/** The packed view in a child's stdout, or what is wrong with it. */
export function decodeFrame(out: Buffer): PackedKernelView | string {
  const nl = out.subarray(0, MAX_HEADER).indexOf(10);
  if (nl < 0) return `wrote ${out.length} bytes with no header line`;
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(out.subarray(0, nl).toString('utf8')) as Record<string, unknown>;
  } catch {
    return `wrote a header line that is not JSON (${JSON.stringify(out.subarray(0, Math.min(nl, 60)).toString('latin1'))})`;
  }
  if (typeof h !== 'object' || h === null || h['bpfready'] !== MAGIC || h['version'] !== VERSION)
    return `wrote a header that is not a kernel view's of version ${VERSION}`;
  const { digest, release, set, bytes } = h;
  if (typeof digest !== 'string' || typeof release !== 'string' || typeof set !== 'string' || !Number.isSafeInteger(bytes))
    return 'wrote a header without digest, release, set and bytes';
  const body = out.subarray(nl + 1);
  if (body.length !== bytes) return `announced ${bytes as number} bytes and wrote ${body.length}`;
  return { digest, release, set, bytes: body };
}

/** Run the child once and return its packed view; rejects with an Error of one line. */
export function collectViewInChild(report: KernelIdentity, o: ViewProcessOptions): Promise<PackedKernelView> {
  const { release, version, machine } = report.kernel;
  const { file, args } = childCommand({ hostRoot: o.hostRoot, kernel: { release, version, machine } }, o);
  const timeoutMs = o.timeoutMs ?? 120_000;
  const maxBytes = o.maxBytes ?? 64 << 20;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let why: string | undefined;
    const kill = (reason: string) => {
      why ??= reason;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill(`ran longer than ${timeoutMs / 1000} s`), timeoutMs);
    timer.unref();
    const stop = () => kill('was stopped');
    if (o.signal?.aborted) stop();
    o.signal?.addEventListener('abort', stop, { once: true });
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > maxBytes) kill(`wrote more than ${maxBytes} bytes`);
      else chunks.push(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
    const fail = (msg: string) => reject(new Error(`kernel view process (${file} ${o.script ?? CHILD_SCRIPT}) ${msg}`));
    const done = () => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', stop);
    };
    child.on('error', (e) => {
      done();
      fail(`could not start: ${e.message}`);
    });
    child.on('close', (code, signal) => {
      done();
      const last = stderr.trim().split('\n').at(-1)?.trim();
      if (why) return fail(`${why}: killed`);
      if (signal) return fail(`was killed by ${signal}${last ? `: ${last}` : ''}`);
      if (code !== 0) return fail(`exited with code ${code}${last ? `: ${last}` : ''}`);
      const got = decodeFrame(Buffer.concat(chunks, size));
      chunks.length = 0;
      if (typeof got === 'string') return fail(got);
      resolve(got);
    });
  });
}
