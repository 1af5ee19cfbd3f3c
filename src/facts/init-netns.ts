// Files of the host's initial network namespace, whatever namespace this process is in (docs/facts.md,
// "Per network namespace"). A process reads /proc/sys/net in its own network namespace, through any
// procfs mount, the host's included; the BPF JIT's net.core sysctls exist only in the initial one.
// On the host (or with hostNetwork) the files are read directly; in a pod's own namespace a worker
// thread enters the initial one (CAP_SYS_ADMIN, and ptrace access to the process whose namespace it
// names) and reads them there.
import { readFileSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { parseNsLink } from '../kernel/namespaces.ts';
import { hostPath } from '../kernel/hostroot.ts';
import { statfsMagic } from '../native/libc.ts';
import type { FileRead, InitNetnsAnswer, InitNetnsRequest } from './init-netns-worker.ts';

export type { FileRead } from './init-netns-worker.ts';

export type InitNetnsFiles =
  /**
   * `unsure`: the initial namespace could not be named and <hostRoot>/proc is a real procfs, so the
   * files were read in this process's namespace, which may not be the initial one; why, if so.
   */
  | { ok: true; files: Record<string, FileRead>; via: string; unsure?: string }
  /** Why the initial namespace could not be read; every file's value is then unknown. */
  | { ok: false; why: string; code: string };

/** include/uapi/linux/magic.h */
const PROC_SUPER_MAGIC = 0x9fa0;

interface NsRef {
  path: string;
  inode?: number;
  code?: string;
}

function nsRef(path: string): NsRef {
  try {
    const inode = parseNsLink(readlinkSync(path));
    return inode === undefined ? { path, code: 'EINVAL' } : { path, inode };
  } catch (e) {
    return { path, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/**
 * Where the initial network namespace can be named: kthreadd (pid 2), like every kernel thread, runs
 * in the initial namespaces on every kernel, whatever the host's init does (on this project's CI VM
 * pid 1 refuses ptrace reads even to root); then the host's pid 1, the namespace operators mean by
 * "the host's" when pid 2 is not kthreadd (a node that is itself a container's pid namespace).
 */
export function initNetnsRefs(hostRoot: string): NsRef[] {
  const refs: NsRef[] = [];
  let comm = '';
  try {
    comm = readFileSync(hostPath(hostRoot, '/proc/2/comm'), 'utf8').trim();
  } catch {
    // No pid 2 under this /proc: pid 1 only.
  }
  if (comm === 'kthreadd') refs.push(nsRef(hostPath(hostRoot, '/proc/2/ns/net')));
  refs.push(nsRef(hostPath(hostRoot, '/proc/1/ns/net')));
  return refs;
}

function readDirect(files: string[]): Record<string, FileRead> {
  const out: Record<string, FileRead> = {};
  for (const f of files) {
    try {
      out[f] = { ok: true, text: readFileSync(f, 'utf8') };
    } catch (e) {
      out[f] = { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }
  return out;
}

/** Read `files` (absolute paths, e.g. <hostRoot>/proc/sys/net/core/bpf_jit_enable) in the initial network namespace. */
export async function readInInitNetns(hostRoot: string, files: string[], timeoutMs = 10_000): Promise<InitNetnsFiles> {
  const own = nsRef('/proc/thread-self/ns/net');
  const refs = initNetnsRefs(hostRoot);
  const known = refs.find((r) => r.inode !== undefined);
  if (own.inode !== undefined && known && known.inode === own.inode)
    return { ok: true, files: readDirect(files), via: 'this process (in the initial network namespace)' };
  if (!known) {
    // A host root that is not a procfs (files laid out by hand, a copy) has no namespaces: its files
    // are what there is to read. Under a real procfs, what we read is this namespace's.
    const tried = refs.map((r) => `${r.path} (${r.code})`).join(', ');
    const proc = statfsMagic(hostPath(hostRoot, '/proc'));
    const files_ = readDirect(files);
    if (!proc.ok || proc.value !== PROC_SUPER_MAGIC)
      return { ok: true, files: files_, via: `${hostPath(hostRoot, '/proc')} (not a procfs)` };
    return {
      ok: true,
      files: files_,
      via: 'this process',
      unsure: `the initial network namespace could not be named (${tried}), and this process's may not be it`,
    };
  }
  const answer = await new Promise<InitNetnsAnswer | { error: string }>((resolve) => {
    const data: InitNetnsRequest = { nsPath: known.path, files };
    const worker = new Worker(new URL('./init-netns-worker.ts', import.meta.url), { workerData: data });
    let got: InitNetnsAnswer | undefined;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `the initial-network-namespace reader did not answer within ${timeoutMs} ms`;
      void worker.terminate();
    }, timeoutMs);
    worker.once('message', (m: InitNetnsAnswer) => (got = m));
    worker.once('error', (e) => (failure = `the initial-network-namespace reader failed: ${e.message}`));
    // Resolve on exit: by then the thread that changed namespace is gone.
    worker.once('exit', (code) => {
      clearTimeout(timer);
      resolve(got ?? { error: failure ?? `the initial-network-namespace reader exited (${code}) without an answer` });
    });
  });
  if ('error' in answer) return { ok: false, why: answer.error, code: 'EIO' };
  if (!answer.entered) {
    const hint =
      answer.code === 'EPERM'
        ? ' (entering it needs CAP_SYS_ADMIN)'
        : answer.code === 'EACCES'
          ? ' (naming it needs ptrace access to that process: CAP_SYS_PTRACE)'
          : '';
    return {
      ok: false,
      why: `this process is not in the initial network namespace, and entering it failed: ${answer.step}: ${answer.code}${hint}`,
      code: answer.code,
    };
  }
  return { ok: true, files: answer.files, via: `a thread in the initial network namespace (${known.path})` };
}
