// A floor of the helper matrix's parallelism: start one worker thread that loads koffi and our bpf()
// gateway (src/native/libc.ts), as each helper worker does before its first load, and exit. Nothing
// is probed. Its wall time less `node -e 0`'s is what the second thread costs before it helps.
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  await worker.terminate();
} else {
  await import('../../src/native/libc.ts');
  parentPort!.postMessage('up');
}
