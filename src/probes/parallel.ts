// The helper matrix is ~6,500 program loads and the verifier dominates its cost: spread the
// program types over worker threads and probe a share on this thread meanwhile. fds are per
// process, so a worker's loads are as real as ours, and the dependencies of a prepared load (an
// extension's target program, BTF) stay open here until every worker has answered.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ProbeEnv, PreparedLoad } from './engine.ts';
import { prepareLoad, probeHelpers } from './engine.ts';
import type { ProgRecipe } from './programs.ts';
import { probeError, type ProbeResult } from './result.ts';
import type { WorkerReply, WorkerRequest } from './helper-worker.ts';

export interface HelperJob {
  progType: string;
  ids: number[];
}
export interface HelperJobResult extends HelperJob {
  results: ProbeResult[];
}

/** Workers started ahead of need: their start-up overlaps the program and map probes. */
export class HelperPool {
  readonly #workers: Worker[] = [];
  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#workers.push(new Worker(new URL('./helper-worker.ts', import.meta.url)));
  }
  get size(): number {
    return this.#workers.length;
  }
  /** Post the request now (a worker still importing gets it when it is up) and await its rows. */
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
      w.once('message', onMessage);
      w.once('error', onError);
      w.postMessage(req);
    });
  }
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

export function defaultWorkers(): number {
  return Math.min(3, Math.max(0, availableParallelism() - 1));
}

interface Prepared {
  job: HelperJob;
  prepared: PreparedLoad | ProbeResult;
}

export async function runHelperMatrix(
  jobs: HelperJob[],
  env: ProbeEnv,
  recipes: Map<string, ProgRecipe>,
  pool: HelperPool | undefined,
): Promise<HelperJobResult[]> {
  const items: Prepared[] = jobs.map((job) => ({ job, prepared: prepareLoad(job.progType, recipes.get(job.progType) ?? {}, env) }));
  try {
    // Token probes explain EPERM through a closure that cannot cross threads: keep them here.
    if (!pool || pool.size === 0 || env.tokenFd !== undefined) return items.map(runHere(env));
    // A shared counter over one job list: each thread, this one included, claims the next program
    // type when it is free, without waiting for the others. A worker that is not ready yet simply
    // finds fewer jobs left when it starts.
    const queue = items.filter((s) => 'spec' in s.prepared);
    const results = items.filter((s) => !('spec' in s.prepared)).map(runHere(env));
    const next = new Int32Array(new SharedArrayBuffer(4));
    const req: WorkerRequest = {
      env: { caps: env.caps, kernVersion: env.kernVersion, ...(env.unprivDisabled !== undefined ? { unprivDisabled: env.unprivDisabled } : {}) },
      jobs: queue.map((item) => ({ progType: item.job.progType, spec: (item.prepared as PreparedLoad).spec, ids: item.job.ids })),
      next,
    };
    const remote = Array.from({ length: pool.size }, async (_, i) => (await pool.run(i, req)).rows);
    for (let i = Atomics.add(next, 0, 1); i < queue.length; i = Atomics.add(next, 0, 1)) results.push(runHere(env)(queue[i]!));
    for (const rows of await Promise.all(remote)) results.push(...rows);
    return results;
  } finally {
    for (const item of items) if ('spec' in item.prepared) for (const fd of item.prepared.deps) fd.close();
  }
}

function runHere(env: ProbeEnv): (item: Prepared) => HelperJobResult {
  return ({ job, prepared }) => {
    if (!('spec' in prepared)) return { ...job, results: job.ids.map(() => prepared) };
    try {
      return { ...job, results: Object.values(probeHelpers(job.progType, prepared, env, job.ids)) };
    } catch (err) {
      return { ...job, results: job.ids.map(() => probeError(undefined, String(err))) };
    }
  };
}
