// Runs in a worker thread that enters the host's initial network namespace (setns moves only the
// calling thread) to read files the kernel shows per network namespace: the net.core sysctls of the
// BPF JIT exist only in the initial one (net/core/sysctl_net_core.c registers them for init_net
// alone), so a pod with its own network namespace finds none under any /proc/sys. The thread reads,
// answers once and exits; no other thread of the process ever changes namespace. docs/facts.md.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { closeFd, errnoName, openPath, O_RDONLY, SYS_setns, syscallLongs } from '../native/libc.ts';

const CLONE_NEWNET = 0x40000000;

export interface InitNetnsRequest {
  /** A /proc/<pid>/ns/net link of a process in the initial network namespace, under the host root. */
  nsPath: string;
  files: string[];
}

export type FileRead = { ok: true; text: string } | { ok: false; code: string };
export type InitNetnsAnswer = { entered: true; files: Record<string, FileRead> } | { entered: false; step: string; code: string };

function run(req: InitNetnsRequest): InitNetnsAnswer {
  const fd = openPath(req.nsPath, O_RDONLY);
  if (!fd.ok) return { entered: false, step: `open ${req.nsPath}`, code: errnoName(fd.errno) };
  const r = syscallLongs(SYS_setns, fd.value, CLONE_NEWNET);
  closeFd(fd.value);
  if (!r.ok) return { entered: false, step: 'setns(CLONE_NEWNET)', code: errnoName(r.errno) };
  const files: Record<string, FileRead> = {};
  for (const f of req.files) {
    try {
      files[f] = { ok: true, text: readFileSync(f, 'utf8') };
    } catch (e) {
      files[f] = { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
    }
  }
  return { entered: true, files };
}

parentPort?.postMessage(run(workerData as InitNetnsRequest));
