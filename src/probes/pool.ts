// The helper worker threads, apart from the engine: a command can start them first thing, before
// it imports the engine, so their start-up (~50–100 ms: an isolate, koffi, the helper module)
// overlaps everything else the first probe does.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './helper-worker.ts';

export class HelperPool {
  readonly #workers: Worker[] = [];
  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#workers.push(new Worker(new URL('./helper-worker.ts', import.meta.url)));
  }
  get size(): number {
    return this.#workers.length;
  }
  /**
   * Post a request now (a worker still importing gets it when it is up) and await its rows.
   * Requests are answered in the order they were posted.
   */
  run(i: number, req: WorkerRequest): Promise<WorkerReply> {
    const w = this.#workers[i]!;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        w.off('message', onMessage);
        reject(err);
      };
      const onMessage = (reply: WorkerReply) => {
        w.off('error', onError);
        resolve(reply);
      };
      // One request in flight per worker at a time would serialize batches; instead replies are
      // matched by order: each run() queues its own one-shot listener behind earlier ones.
      pending(w).push({ onMessage, onError });
      w.postMessage(req);
    });
  }
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

type Waiter = { onMessage: (r: WorkerReply) => void; onError: (e: Error) => void };
const waiters = new WeakMap<Worker, Waiter[]>();
function pending(w: Worker): Waiter[] {
  let q = waiters.get(w);
  if (!q) {
    const list: Waiter[] = [];
    waiters.set(w, list);
    w.on('message', (reply: WorkerReply) => list.shift()?.onMessage(reply));
    w.on('error', (err: Error) => {
      for (const x of list.splice(0)) x.onError(err);
    });
    q = list;
  }
  return q;
}

export function defaultWorkers(): number {
  return Math.min(3, Math.max(0, availableParallelism() - 1));
}


let prewarmed: HelperPool | undefined;

/** Start the helper workers now; the next probe that needs them takes them (takePrewarmedPool). */
export function prewarmHelperPool(size = defaultWorkers()): void {
  if (!prewarmed && size > 0) prewarmed = new HelperPool(size);
}

/** The prewarmed pool if it has `size` workers (one of another size is closed). */
export function takePrewarmedPool(size: number): HelperPool | undefined {
  const p = prewarmed;
  prewarmed = undefined;
  if (p && p.size !== size) {
    void p.close();
    return undefined;
  }
  return p;
}
