// Network hooks (tcx, netkit, generic XDP) are only ever attached inside a private network
// namespace, created by a worker thread (netns-worker.ts) so that the process's own threads, and
// the node's interfaces, are never touched.
import { Worker } from 'node:worker_threads';
import type { FactSection } from '../contract/report.ts';
import { probeError } from '../contract/result.ts';
import type { NetnsWorkerData } from './netns-worker.ts';

export const NETNS_KEYS = ['tcx', 'netkit', 'xdp_generic'] as const;

/**
 * The network hooks, answered by a worker thread of their own. It needs nothing of the attach
 * context (the kernel config, for netkit's reason, is read by the worker when it has to give one),
 * so the section starts it before anything else: the thread's start is its longest wait.
 */
export async function probeNetworkHooks(hostRoot = '/', timeoutMs = 10_000): Promise<FactSection> {
  const data: NetnsWorkerData = { hostRoot };
  const failAll = (why: string): FactSection => Object.fromEntries(NETNS_KEYS.map((k) => [k, probeError(undefined, why)]));
  const worker = new Worker(new URL('./netns-worker.ts', import.meta.url), { workerData: data });
  return await new Promise<FactSection>((resolve) => {
    let answer: FactSection | undefined;
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `the network-namespace worker did not answer within ${timeoutMs} ms`;
      void worker.terminate();
    }, timeoutMs);
    worker.once('message', (m: FactSection) => {
      answer = m;
    });
    worker.once('error', (e) => {
      failure = `the network-namespace worker failed: ${e.message}`;
    });
    // Resolve on exit, not on the message: by then the thread, its namespace and its fds are gone.
    worker.once('exit', (code) => {
      clearTimeout(timer);
      resolve(answer ?? failAll(failure ?? `the network-namespace worker exited (${code}) without an answer`));
    });
  });
}
