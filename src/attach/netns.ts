// Network hooks (tcx, netkit, generic XDP) are only ever attached inside a private network
// namespace, created by a worker thread (netns-worker.ts) so that the process's own threads, and
// the node's interfaces, are never touched. The same thread reads, through private mounts, the
// files the section would otherwise start a child process for (readPrivatelyAsync).
import { Worker } from 'node:worker_threads';
import type { FactSection } from '../contract/report.ts';
import { probeError } from '../contract/result.ts';
import { privateReadKey, privateReadsNeeded, readPrivatelyAsync, type PrivateRead } from './env.ts';
import type { NetnsWorkerData, NetnsWorkerMessage } from './netns-worker.ts';
import { PROBE_TRACEPOINT } from './targets.ts';

export const NETNS_KEYS = ['tcx', 'netkit', 'xdp_generic'] as const;

export interface NamespaceWorker {
  /** The network hooks; resolves when the thread, its namespaces and its fds are gone. */
  hooks: Promise<FactSection>;
  /** readPrivatelyAsync() answered from the thread's reads where it made them. */
  read: PrivateRead;
  /** The texts the thread read, by privateReadKey(); {} when it read none. */
  ahead: Promise<Record<string, string>>;
}

/**
 * Start the worker thread for the network hooks and the private reads. It needs nothing of the
 * attach context (the kernel config, for netkit's reason, is read by the worker when it has to give
 * one), so the section starts it before anything else: the thread's start is its longest wait.
 */
export function startNamespaceWorker(hostRoot = '/', reads: [fsType: string, rel: string][] = [], timeoutMs = 10_000): NamespaceWorker {
  const data: NetnsWorkerData = { hostRoot, reads };
  const failAll = (why: string): FactSection => Object.fromEntries(NETNS_KEYS.map((k) => [k, probeError(undefined, why)]));
  const worker = new Worker(new URL('./netns-worker.ts', import.meta.url), { workerData: data });
  let gotReads: (texts: Record<string, string>) => void = () => undefined;
  const texts = new Promise<Record<string, string>>((resolve) => {
    gotReads = resolve;
  });
  const hooks = new Promise<FactSection>((resolve) => {
    let answer: FactSection | undefined;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `the network-namespace worker did not answer within ${timeoutMs} ms`;
      void worker.terminate();
    }, timeoutMs);
    worker.on('message', (m: NetnsWorkerMessage) => {
      if ('reads' in m) gotReads(m.reads);
      else answer = m.hooks;
    });
    worker.once('error', (e) => {
      failure = `the network-namespace worker failed: ${e.message}`;
    });
    // Resolve on exit, not on the message: by then the thread, its namespace and its fds are gone.
    worker.once('exit', (code) => {
      clearTimeout(timer);
      gotReads({});
      resolve(answer ?? failAll(failure ?? `the network-namespace worker exited (${code}) without an answer`));
    });
  });
  const read: PrivateRead = async (fsType, rel) => {
    const text = (await texts)[privateReadKey(fsType, rel)];
    return text !== undefined ? { text } : await readPrivatelyAsync(fsType, rel);
  };
  return { hooks, read, ahead: texts };
}

/**
 * The attach section's worker, with the reads its probes will make: probeAttach starts it, or a
 * caller that wants it going before the probes are even loaded (collect/, with the tables).
 */
export function startAttachWorker(hostRoot = '/'): NamespaceWorker {
  return startNamespaceWorker(hostRoot, privateReadsNeeded(hostRoot, PROBE_TRACEPOINT));
}

/** The network hooks alone. */
export function probeNetworkHooks(hostRoot = '/', timeoutMs = 10_000): Promise<FactSection> {
  return startNamespaceWorker(hostRoot, [], timeoutMs).hooks;
}
