// The helper worker threads, apart from the engine: a command can start them first thing, before
// it imports the engine, so their start-up (~50–100 ms: an isolate, koffi, the helper module)
// overlaps everything else the first probe does.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './helper-worker.ts';
import { discardSpeculation } from './shim-early.ts';

export class HelperPool {
  readonly #workers: Worker[] = [];
  // Replies come back in the order requests were posted: one queue of waiters per worker.
  readonly #waiting = new Map<Worker, Waiter[]>();
  // A worker that is gone (a prewarmed one whose start-up failed, say) can answer nothing more.
  readonly #exited = new Map<Worker, number>();
  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./helper-worker.ts', import.meta.url));
      const queue: Waiter[] = [];
      this.#waiting.set(w, queue);
      const failAll = (err: Error) => {
        for (const x of queue.splice(0)) x.reject(err);
      };
      w.on('message', (reply: WorkerReply) => queue.shift()?.resolve(reply));
      w.on('error', failAll);
      // A worker that exits without an error event (killed, out of memory) must not leave its
      // requests waiting forever.
      w.on('exit', (code) => {
        this.#exited.set(w, code);
        failAll(new Error(`helper worker exited (code ${code}) with requests pending`));
      });
      this.#workers.push(w);
    }
  }
  get size(): number {
    return this.#workers.length;
  }
  /** Post a request now (a worker still importing gets it when it is up) and await its rows. */
  run(i: number, req: WorkerRequest): Promise<WorkerReply> {
    const w = this.#workers[i]!;
    const code = this.#exited.get(w);
    if (code !== undefined) return Promise.reject(new Error(`helper worker exited (code ${code}) before this request`));
    return new Promise((resolve, reject) => {
      this.#waiting.get(w)!.push({ resolve, reject });
      w.postMessage(req);
    });
  }
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

type Waiter = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

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

/**
 * Close the prewarmed pool if nobody took it (a usage error, --help, a probe that failed), and stop
 * the early helper batch likewise (src/collect/shim-early.ts).
 */
export async function discardPrewarmedPool(): Promise<void> {
  discardSpeculation();
  const p = prewarmed;
  prewarmed = undefined;
  await p?.close();
}
